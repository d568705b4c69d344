"""Presence (API.md, "Delivery guarantees", Presence): a user is `online` while at least
one stream of theirs is open; `presence` events go to users sharing a room with them,
with a grace period (CHAT_PRESENCE_GRACE_SECONDS, 1 s in tests) so a quick reconnect does
not flap."""

from __future__ import annotations

import time
from contextlib import contextmanager

GRACE = 1.0


def wait_open_streams(stream, live_server, count, timeout=6.0) -> float:
    """Waits until the server counts exactly `count` open streams (it notices a client
    hanging up within moments); returns when it did."""
    deadline = time.monotonic() + timeout
    while (now := time.monotonic()) < deadline:
        if stream.open_streams(live_server.url) == count:
            return now
        time.sleep(0.02)
    raise AssertionError(f"the server never counted {count} open streams")


@contextmanager
def alice_online_watched_by_bob(api, stream):
    """Bob's stream open, and Alice, who shares a room with him, just announced online:
    (alice, bob, room id, alice's stream — the test's to close —, bob's stream)."""
    alice, bob = api(), api()
    room = bob.create_room()["id"]
    alice.join(room)
    with bob.subscribe() as bob_sse:
        bob_sse.wait_ready()
        alice_sse = alice.subscribe()
        alice_sse.wait_ready()
        stream.named(bob_sse, "presence", user=alice.id, status="online")
        yield alice, bob, room, alice_sse, bob_sse


def members_online(client, room_id) -> dict[str, bool]:
    response = client.get(f"/rooms/{room_id}/users")
    assert response.status_code == 200, response.text
    return {user["id"]: user["online"] for user in response.json()}


def test_first_stream_announces_online(api, stream, live_server):
    """Opening one's first stream sends `presence` {user, status: online} to users
    sharing a room; GET /rooms/{id}/users shows them online; a second stream of the same
    user announces nothing new."""
    wait_open_streams(stream, live_server, 0)
    alice, bob = api(), api()
    room = bob.create_room()["id"]
    alice.join(room)
    assert members_online(bob, room) == {alice.id: False, bob.id: False}
    with bob.subscribe() as bob_sse:
        bob_sse.wait_ready()
        with alice.subscribe() as first:
            first.wait_ready()
            event = stream.named(bob_sse, "presence", user=alice.id)
            assert event.json() == {"user": alice.id, "status": "online"}
            assert not event.has_id_field
            assert members_online(bob, room) == {alice.id: True, bob.id: True}
            with alice.subscribe() as second:
                second.wait_ready()
                later = bob_sse.collect(0.5)
                assert not [e for e in later if e.event == "presence"], later


def test_offline_only_after_the_grace_period(api, stream, live_server):
    """After the last stream closes, `offline` arrives only once the grace period has
    passed since the server saw the stream end; then the user is listed offline."""
    wait_open_streams(stream, live_server, 0)
    with alice_online_watched_by_bob(api, stream) as (alice, bob, room, alice_sse, bob_sse):
        closed_at = time.monotonic()
        alice_sse.close()
        gone_at = wait_open_streams(stream, live_server, 1)
        assert members_online(bob, room)[alice.id] is True  # still within the grace
        event = stream.named(bob_sse, "presence", timeout=5, user=alice.id)
        offline_at = time.monotonic()
        assert event.json() == {"user": alice.id, "status": "offline"}
        assert offline_at - gone_at >= GRACE * 0.8, (offline_at - gone_at)
        assert offline_at - closed_at >= GRACE
        assert members_online(bob, room) == {alice.id: False, bob.id: True}


def test_offline_after_sign_out_waits_the_grace_period(api, stream, live_server):
    """Signing out ends the streams at once; `offline` still waits the grace period."""
    wait_open_streams(stream, live_server, 0)
    alice, bob = api(), api()
    room = bob.create_room()["id"]
    alice.join(room)
    with bob.subscribe() as bob_sse, alice.subscribe() as alice_sse:
        bob_sse.wait_ready()
        alice_sse.wait_ready()
        stream.named(bob_sse, "presence", user=alice.id, status="online")
        alice.logout()  # the stream is closed before the answer
        signed_out_at = time.monotonic()
        assert alice_sse.wait_closed(3)
        event = stream.named(bob_sse, "presence", timeout=5, user=alice.id)
        elapsed = time.monotonic() - signed_out_at
        assert event.json()["status"] == "offline"
        assert GRACE * 0.9 <= elapsed < GRACE + 2, elapsed


def test_quick_reconnect_does_not_flap(api, stream, live_server):
    """A reconnect within the grace period produces neither `offline` nor a second
    `online`."""
    wait_open_streams(stream, live_server, 0)
    with alice_online_watched_by_bob(api, stream) as (alice, bob, room, alice_sse, bob_sse):
        alice_sse.close()
        gone_at = wait_open_streams(stream, live_server, 1)  # the server saw it end
        with alice.subscribe() as again:
            again.wait_ready()
            assert time.monotonic() - gone_at < GRACE * 0.8, "reconnect was not quick"
            flaps = [e for e in bob_sse.collect(GRACE + 1.0)
                     if e.event == "presence" and e.json()["user"] == alice.id]
            assert not flaps, flaps
            assert members_online(bob, room)[alice.id] is True
