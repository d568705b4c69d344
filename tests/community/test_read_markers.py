"""Read markers and unread counts (API.md "Messages" `PUT /rooms/{id}/read`, "Objects"
`unread_count`/`last_read`, "The event stream" `read`)."""

from __future__ import annotations

import uuid

import pytest

from tests.support.checks import WAIT, assert_error, is_chat


def mark(client, room_id, message_id):
    response = client.put(f"/rooms/{room_id}/read", json={"message": message_id})
    assert response.status_code == 204, response.text
    assert response.content == b""


def my_room(client, room_id):
    rooms = {r["id"]: r for r in client.get(f"/users/{client.id}/rooms").json()}
    return rooms[room_id]


@pytest.fixture
def conversation(api):
    """(alice, bob, room, [m1 by alice, m2 by bob, m3 by alice, m4 by alice]), all stored."""
    alice, bob = api(), api()
    room = alice.create_room()
    bob.join(room["id"])
    with alice.subscribe() as stream:
        stream.wait_ready(WAIT)
        messages = [alice.post_message(room["id"], "one"), bob.post_message(room["id"], "two"),
                    alice.post_message(room["id"], "three"),
                    alice.post_message(room["id"], "four")]
        stream.events_until(is_chat(messages[-1]["id"]), timeout=WAIT)
    return alice, bob, room, messages


def test_unread_count_counts_other_users_messages_after_the_marker(conversation):
    """Without a marker every message by others is unread and last_read is null; own
    messages never count; marking moves the count down."""
    alice, bob, room, (m1, m2, m3, m4) = conversation
    entry = my_room(bob, room["id"])
    assert entry["unread_count"] == 3 and entry["last_read"] is None
    assert set(entry) >= {"id", "name", "kind", "owner", "created_at",
                          "unread_count", "last_read"}
    entry = my_room(alice, room["id"])
    assert entry["unread_count"] == 1 and entry["last_read"] is None  # only bob's m2
    mark(bob, room["id"], m1["id"])
    entry = my_room(bob, room["id"])
    assert entry["unread_count"] == 2 and entry["last_read"] == m1["id"]
    mark(bob, room["id"], m2["id"])  # bob's own message: nothing of others after m1 changed
    assert my_room(bob, room["id"])["unread_count"] == 2
    mark(bob, room["id"], m4["id"])
    entry = my_room(bob, room["id"])
    assert entry["unread_count"] == 0 and entry["last_read"] == m4["id"]
    # Alice marking her own last message covers bob's m2.
    mark(alice, room["id"], m4["id"])
    assert my_room(alice, room["id"])["unread_count"] == 0


def test_marker_only_moves_forward(conversation):
    """Marking an older message answers 204 but leaves the marker (and count) where it
    was; marking the same message again is also a harmless 204."""
    alice, bob, room, (m1, m2, m3, m4) = conversation
    mark(bob, room["id"], m3["id"])
    before = my_room(bob, room["id"])
    assert before["last_read"] == m3["id"] and before["unread_count"] == 1
    mark(bob, room["id"], m1["id"])
    mark(bob, room["id"], m3["id"])
    assert my_room(bob, room["id"]) == before


def test_new_messages_by_others_raise_the_count(conversation):
    """Messages stored after the marker count; the caller's own new ones do not."""
    alice, bob, room, (m1, m2, m3, m4) = conversation
    mark(bob, room["id"], m4["id"])
    with bob.subscribe() as stream:
        stream.wait_ready(WAIT)
        mine = bob.post_message(room["id"], "bob again")
        theirs = alice.post_message(room["id"], "alice again")
        stream.events_until(is_chat(theirs["id"]), timeout=WAIT)
    assert mine["id"] in {m["id"] for m in bob.history(room["id"])}
    assert my_room(bob, room["id"])["unread_count"] == 1
    assert my_room(alice, room["id"])["unread_count"] == 2  # m2 and bob's new one


def test_read_event_reaches_the_users_other_streams(conversation, api):
    """The `read` event {room, message} (no id: line) goes to every stream of the user,
    and not to other users."""
    alice, bob, room, (m1, m2, m3, m4) = conversation
    with bob.subscribe() as first, bob.subscribe() as second, alice.subscribe() as other:
        for stream in (first, second, other):
            stream.wait_ready(WAIT)
        mark(bob, room["id"], m3["id"])
        for stream in (first, second):
            event = stream.events_until(lambda e: e.event == "read", timeout=WAIT)[-1]
            assert event.json() == {"room": room["id"], "message": m3["id"]}
            assert event.has_id_field is False
        # A message after the read, to the room both are in: alice's stream reaches it
        # without a `read` event of bob's before it.
        marker = bob.post_message(room["id"], "marker")
        seen = other.events_until(is_chat(marker["id"]), timeout=WAIT)
        assert not [e for e in seen if e.event == "read"]


def test_read_marker_refusals(api, conversation):
    """Another room's message or an unknown one: 404; non-member of a public room:
    403 not_member; a private room the caller is not in: 404; bad bodies: 400."""
    alice, bob, room, (m1, m2, m3, m4) = conversation
    other_room = alice.create_room()
    path = f"/rooms/{room['id']}/read"
    assert_error(bob.put(path, json={"message": str(uuid.uuid4())}), 404, "not_found")
    with alice.subscribe() as stream:  # wait until stored, or the 404 would prove nothing
        stream.wait_ready(WAIT)
        foreign = alice.post_message(other_room["id"], "elsewhere")
        stream.events_until(is_chat(foreign["id"]), timeout=WAIT)
    assert_error(bob.put(path, json={"message": foreign["id"]}), 404, "not_found")
    assert_error(bob.put(path, json={}), 400, "validation_error")
    assert_error(bob.put(path, json={"message": "m1"}), 400, "validation_error")
    assert_error(bob.put(path, data="x", headers={"Content-Type": "text/plain"}),
                 400, "invalid_json")
    outsider = api()
    assert_error(outsider.put(path, json={"message": m1["id"]}), 403, "not_member")
    private = alice.create_room(kind="private")
    assert_error(outsider.put(f"/rooms/{private['id']}/read", json={"message": m1["id"]}),
                 404, "not_found")
    assert my_room(bob, room["id"])["last_read"] is None  # nothing moved


def test_only_the_user_reads_their_room_list(conversation):
    """GET /users/{other}/rooms is 403 forbidden; only your own list with counts."""
    alice, bob, room, messages = conversation
    assert_error(alice.get(f"/users/{bob.id}/rooms"), 403, "forbidden")
    assert_error(alice.get(f"/users/{uuid.uuid4()}/rooms"), 403, "forbidden")
    listed = alice.get(f"/users/{alice.id}/rooms").json()
    assert room["id"] in {r["id"] for r in listed}
    assert all({"unread_count", "last_read"} <= set(r) for r in listed)


def test_room_list_holds_exactly_the_users_rooms(conversation):
    """GET /users/{id}/rooms lists the rooms the user is in (general included), not other
    public rooms, and drops a room once the user leaves it."""
    alice, bob, room, messages = conversation
    solo = alice.create_room()
    ids = {r["id"] for r in bob.get(f"/users/{bob.id}/rooms").json()}
    assert room["id"] in ids and solo["id"] not in ids
    assert bob.general_room()["id"] in ids
    bob.leave(room["id"])
    assert room["id"] not in {r["id"] for r in bob.get(f"/users/{bob.id}/rooms").json()}
