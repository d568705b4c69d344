"""Who receives what (API.md, "Delivery guarantees"): exactly the rooms a user is in at
that moment, membership changes applied at once on open streams, up to 10 streams per
user each getting everything, and sign-out ending the streams of that session."""

from __future__ import annotations

import time

from tests.support.server import ChatClient


def test_no_messages_of_rooms_one_is_not_in(api, stream):
    """A subscriber never receives a message of a room they are not in."""
    alice, bob = api(), api()
    shared = bob.create_room()
    alice.join(shared["id"])
    other = bob.create_room()  # public; alice could join but did not
    private = bob.create_room(kind="private")
    with alice.subscribe() as sse:
        sse.wait_ready()
        secret = [bob.post_message(other["id"], "not for alice"),
                  bob.post_message(private["id"], "not for alice either")]
        visible = bob.post_message(shared["id"], "for alice")
        # Stored order: had the earlier posts been delivered, they would come first.
        got = sse.events_until(lambda e: e.event == "message", timeout=5)
    assert got[-1].json() == visible
    leaked = {e.id for e in got} & {m["id"] for m in secret}
    assert not leaked


def test_join_starts_delivery_on_open_stream(api, stream):
    """Joining starts delivery on an already open stream (no reconnect); the `membership`
    joined event reaches the joiner and the room's members."""
    alice, bob = api(), api()
    room = bob.create_room()
    with alice.subscribe() as sse, bob.subscribe() as bob_sse:
        sse.wait_ready()
        bob_sse.wait_ready()
        before = bob.post_message(room["id"], "before alice joined")
        # Accepted is not yet stored: one stored (and so delivered) after the join
        # would rightly reach alice.
        stream.wait_stored(bob, room["id"], before["id"])
        alice.join(room["id"])
        event = stream.named(sse, "membership", room=room["id"], user=alice.id)
        assert event.json() == {"room": room["id"], "user": alice.id, "action": "joined"}
        stream.named(bob_sse, "membership", room=room["id"], user=alice.id, action="joined")
        after = bob.post_message(room["id"], "after alice joined")
        got = stream.next_message(sse)
        assert got.json() == after, (got, before)


def _removal_stops_delivery(alice, bob, stream, remove, expected_event):
    """alice (subscribed) is removed from `room` by `remove()`; the expected event
    reaches her, later posts in the room do not, a post in another shared room does."""
    room = bob.create_room()
    marker_room = bob.create_room()
    alice.join(room["id"])
    alice.join(marker_room["id"])
    with alice.subscribe() as sse, bob.subscribe() as bob_sse:
        sse.wait_ready()
        bob_sse.wait_ready()
        first = bob.post_message(room["id"], "while alice is in")
        assert stream.next_message(sse).json() == first
        remove(room)
        name, fields = expected_event
        event = stream.named(sse, name, room=room["id"], **fields)
        # The room's other members hear it too.
        assert stream.named(bob_sse, name, room=room["id"], **fields).json() == event.json()
        later = []
        response = bob.post(f"/rooms/{room['id']}/messages", json={"message": "after"})
        if response.status_code == 202:  # the room still exists (leave, kick, ban)
            later.append(response.json()["id"])
        else:
            assert response.status_code == 404, response.text  # deleted
        marker = bob.post_message(marker_room["id"], "marker")
        got = sse.events_until(lambda e: e.id == marker["id"] and e.event == "message", 5)
        assert not [e for e in got if e.event == "message" and e.id in later]
        assert not [e for e in got if e.event == "message" and e.json()["room"] == room["id"]]
    return event


def test_leave_stops_delivery_at_once(api, stream):
    """Leaving: `membership` left reaches the leaver, then no message of that room."""
    alice, bob = api(), api()
    event = _removal_stops_delivery(
        alice, bob, stream, lambda room: alice.leave(room["id"]),
        ("membership", {"user": alice.id, "action": "left"}))
    assert not event.has_id_field


def test_kick_stops_delivery_at_once(api, stream):
    """Kick by the owner: `membership` kicked reaches the kicked user, then nothing more."""
    alice, bob = api(), api()

    def kick(room):
        assert bob.delete(f"/rooms/{room['id']}/users/{alice.id}").status_code == 204

    _removal_stops_delivery(alice, bob, stream, kick,
                            ("membership", {"user": alice.id, "action": "kicked"}))


def test_ban_stops_delivery_at_once(api, stream):
    """A room ban: `membership` banned reaches the banned user, then nothing more."""
    alice, bob = api(), api()

    def ban(room):
        response = bob.post(f"/rooms/{room['id']}/bans",
                            json={"user": alice.id, "reason": "test"})
        assert response.status_code == 201, response.text

    _removal_stops_delivery(alice, bob, stream, ban,
                            ("membership", {"user": alice.id, "action": "banned"}))


def test_room_deletion_stops_delivery_at_once(api, stream):
    """Deleting a room: `room` {room, action: deleted} reaches its members, then nothing."""
    alice, bob = api(), api()

    def delete(room):
        assert bob.delete(f"/rooms/{room['id']}").status_code == 204

    event = _removal_stops_delivery(alice, bob, stream, delete,
                                    ("room", {"action": "deleted"}))
    assert set(event.json()) == {"room", "action"}


def test_two_streams_of_one_user_both_get_everything(api, stream):
    """Each of a user's streams gets every message and event."""
    alice, bob = api(), api()
    room = bob.create_room()
    alice.join(room["id"])
    with alice.subscribe() as one, alice.subscribe() as two:
        one.wait_ready()
        two.wait_ready()
        posted = [bob.post_message(room["id"], f"m{i}") for i in range(5)]
        posted.append(alice.post_message(room["id"], "from alice"))
        alice.leave(room["id"])
        for sse in (one, two):
            assert [e.json() for e in stream.messages(sse, 6)] == posted
            stream.named(sse, "membership", room=room["id"], user=alice.id, action="left")


def test_eleventh_stream_is_refused(api, live_server):
    """At most 10 streams per user: the 11th gets 429 with Retry-After; closing one frees
    a slot; other users are not affected."""
    alice, bob = api(), api()
    streams = []
    try:
        for _ in range(10):
            sse = alice.subscribe()
            streams.append(sse)
            assert sse.response.status_code == 200
            sse.wait_ready()
        with alice.subscribe() as extra:
            assert extra.response.status_code == 429
            assert extra.response.json()["error"]["code"] == "rate_limited"
            assert int(extra.response.headers["Retry-After"]) >= 1
        with bob.subscribe() as other:
            assert other.response.status_code == 200
            other.wait_ready()
        streams.pop().close()
        closed_at = time.monotonic()
        # The server notices a vanished client on its next write (a keepalive, 1 s).
        while True:
            again = alice.subscribe()
            if again.response.status_code == 200:
                streams.append(again)
                again.wait_ready()
                break
            assert again.response.status_code == 429
            again.close()
            assert time.monotonic() - closed_at < 6, "the closed stream's slot was never freed"
            time.sleep(0.05)
        print(f"\na closed stream's slot was free again after "
              f"{time.monotonic() - closed_at:.2f} s")
    finally:
        for sse in streams:
            sse.close()


def test_logout_closes_the_streams_of_that_session_only(api, live_server, stream):
    """DELETE /sessions/current ends the streams opened with that session at once; a
    stream of another session of the same user stays open and keeps receiving."""
    alice = api()
    room = alice.create_room()
    other_session = ChatClient(live_server.api)
    other_session.login(alice.user["name"])
    try:
        with alice.subscribe() as mine, other_session.subscribe() as theirs:
            mine.wait_ready()
            theirs.wait_ready()
            token = alice.token
            alice.logout()
            assert mine.wait_closed(3), "the signed-out session's stream stayed open"
            assert mine.closed_by_server
            assert not theirs.ended
            posted = other_session.post_message(room["id"], "still here")
            assert stream.next_message(theirs).json() == posted
            assert not theirs.ended
            with alice.subscribe(headers={"Authorization": f"Bearer {token}"}) as gone:
                assert gone.response.status_code == 401
    finally:
        other_session.close()


def test_a_new_public_room_is_announced_to_every_open_stream(api, stream):
    """API 1.1: creating a public room sends `room` {room, action: created, info: Room} to
    every open stream, members of nothing but `general` included; a private room is
    announced to nobody."""
    alice, bob = api(), api()
    with alice.subscribe() as sse, bob.subscribe() as bob_sse:
        sse.wait_ready()
        bob_sse.wait_ready()
        private = bob.create_room(kind="private")
        public = bob.create_room()
        for watcher in (sse, bob_sse):
            seen = watcher.events_until(lambda e: e.event == "room", timeout=5)
            announced = seen[-1].json()
            assert announced == {"room": public["id"], "action": "created", "info": public}
            assert not seen[-1].has_id_field
            # The private room was created first: the first `room` event would be its own.
            assert private["id"] not in seen[-1].data
