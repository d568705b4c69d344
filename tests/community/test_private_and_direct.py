"""Private rooms and direct messages (API.md "Rooms and membership", "Users"): a private
or direct room never leaks to anyone who is not in it, invitees see (but cannot read) the
room they are invited to, and `PUT /users/{id}/direct` gives the one room of a pair."""

from __future__ import annotations

import uuid

import pytest

from tests.support.checks import WAIT, assert_error, is_chat
from tests.support.server import unique_name


def code(response):
    return response.json()["error"]["code"]


def post_and_await(author, room_id, text, stream):
    """Posts and waits until the message is stored (its event reached `stream`)."""
    message = author.post_message(room_id, text)
    stream.events_until(is_chat(message["id"]), timeout=WAIT)
    return message


def assert_invisible(outsider, room_id, message_id):
    """Every room endpoint answers 404 not_found to someone who may not see the room."""
    calls = [
        outsider.get(f"/rooms/{room_id}"),
        outsider.get(f"/rooms/{room_id}/users"),
        outsider.get(f"/rooms/{room_id}/messages"),
        outsider.get(f"/rooms/{room_id}/messages/{message_id}"),
        outsider.post(f"/rooms/{room_id}/messages", json={"message": "let me in"}),
        outsider.post(f"/rooms/{room_id}/users", json={"chat_user": outsider.id}),
        outsider.delete(f"/rooms/{room_id}/users/{outsider.id}"),
        outsider.post(f"/rooms/{room_id}/invitations", json={"user": outsider.id}),
        outsider.put(f"/rooms/{room_id}/read", json={"message": message_id}),
    ]
    for response in calls:
        assert_error(response, 404, "not_found")
        assert "kind" not in response.text  # nothing of the room in the body
    assert room_id not in {r["id"] for r in outsider.rooms()}
    assert room_id not in {r["id"] for r in outsider.get(f"/users/{outsider.id}/rooms").json()}


@pytest.fixture
def private_room(api):
    """(owner, member, private room, a stored message of it)."""
    owner, member = api(), api()
    room = owner.create_room(kind="private")
    with owner.subscribe() as stream:
        stream.wait_ready(WAIT)
        invitation = owner.post(f"/rooms/{room['id']}/invitations", json={"user": member.id})
        assert invitation.status_code == 201, invitation.text
        member.join(room["id"])
        message = post_and_await(owner, room["id"], "members only", stream)
    return owner, member, room, message


# -- private rooms ---------------------------------------------------------------------------

def test_private_room_is_404_everywhere_for_outsiders(api, private_room):
    """A private room the caller is not in (and not invited to) answers 404 on every
    endpoint, joins included, and is absent from the outsider's room lists."""
    owner, member, room, message = private_room
    assert room["kind"] == "private" and room["owner"] == owner.id
    assert_invisible(api(), room["id"], message["id"])


def test_private_room_is_visible_to_its_members(private_room):
    """Members see the room in GET /rooms, read it, its members and its history."""
    owner, member, room, message = private_room
    for client in (owner, member):
        assert room["id"] in {r["id"] for r in client.rooms()}
        assert client.get(f"/rooms/{room['id']}").json() == room
        members = client.get(f"/rooms/{room['id']}/users").json()
        assert {u["id"] for u in members} == {owner.id, member.id}
        assert [m["id"] for m in client.history(room["id"])] == [message["id"]]
        got = client.get(f"/rooms/{room['id']}/messages/{message['id']}")
        assert got.status_code == 200 and got.json() == message


def test_private_room_is_listed_for_members_only_in_get_rooms(api):
    """GET /rooms: public rooms plus the caller's own rooms, never others' private rooms."""
    owner, outsider = api(), api()
    private = owner.create_room(kind="private")
    public = owner.create_room()
    assert {private["id"], public["id"]} <= {r["id"] for r in owner.rooms()}
    outsiders_view = {r["id"] for r in outsider.rooms()}
    assert public["id"] in outsiders_view and private["id"] not in outsiders_view
    own = {r["id"] for r in outsider.get(f"/users/{outsider.id}/rooms").json()}
    assert all(r["kind"] == "public" or r["id"] in own for r in outsider.rooms())


def test_invitee_sees_the_room_but_not_its_history(api, private_room):
    """An invitee with a pending invitation sees the room (GET 200, members list) but
    cannot read its history or messages (404) nor post (403 not_member) before joining."""
    owner, member, room, message = private_room
    invitee = api()
    assert member.post(f"/rooms/{room['id']}/invitations",
                       json={"user": invitee.id}).status_code == 201
    assert invitee.get(f"/rooms/{room['id']}").json() == room
    assert invitee.get(f"/rooms/{room['id']}/users").status_code == 200
    assert_error(invitee.get(f"/rooms/{room['id']}/messages"), 404, "not_found")
    assert_error(invitee.get(f"/rooms/{room['id']}/messages/{message['id']}"), 404, "not_found")
    assert_error(invitee.post(f"/rooms/{room['id']}/messages", json={"message": "hi"}),
                 403, "not_member")
    # Someone else cannot use the invitation; the invitee cannot add others.
    stranger = api()
    assert_error(stranger.post(f"/rooms/{room['id']}/users", json={"chat_user": stranger.id}),
                 404, "not_found")
    assert_error(invitee.post(f"/rooms/{room['id']}/users", json={"chat_user": stranger.id}),
                 403, "forbidden")


def test_invitee_joins_by_post_users_which_accepts_the_invitation(api, private_room):
    """POST /rooms/{id}/users by an invitee joins (204) and consumes the invitation; the
    history is readable from then on, and a second join is 409."""
    owner, member, room, message = private_room
    invitee = api()
    assert owner.post(f"/rooms/{room['id']}/invitations",
                      json={"user": invitee.id}).status_code == 201
    assert len(invitee.get("/users/me/invitations").json()) == 1
    invitee.join(room["id"])
    assert invitee.get("/users/me/invitations").json() == []
    assert [m["id"] for m in invitee.history(room["id"])] == [message["id"]]
    assert room["id"] in {r["id"] for r in invitee.rooms()}
    assert_error(invitee.post(f"/rooms/{room['id']}/users", json={"chat_user": invitee.id}),
                 409, "conflict")


def test_member_who_leaves_a_private_room_loses_sight_of_it(private_room):
    """After leaving, a former member is an outsider: 404 everywhere, no rejoin."""
    owner, member, room, message = private_room
    member.leave(room["id"])
    assert_invisible(member, room["id"], message["id"])


# -- direct rooms ----------------------------------------------------------------------------

def test_direct_room_is_created_once_per_pair(api):
    """PUT /users/{id}/direct: 201 the first time, 200 afterwards from either side, always
    the same room, of kind direct, with exactly the two users as members."""
    alice, bob = api(), api()
    first = alice.put(f"/users/{bob.id}/direct")
    assert first.status_code == 201, first.text
    room = first.json()
    assert set(room) >= {"id", "name", "kind", "owner", "created_at"}
    assert room["kind"] == "direct"
    again = alice.put(f"/users/{bob.id}/direct")
    other_side = bob.put(f"/users/{alice.id}/direct")
    assert again.status_code == 200 and other_side.status_code == 200
    assert again.json()["id"] == other_side.json()["id"] == room["id"]
    for client in (alice, bob):
        members = client.get(f"/rooms/{room['id']}/users").json()
        assert {u["id"] for u in members} == {alice.id, bob.id}
        assert room["id"] in {r["id"] for r in client.rooms()}
        mine = {r["id"]: r for r in client.get(f"/users/{client.id}/rooms").json()}
        assert mine[room["id"]]["kind"] == "direct"


def test_direct_room_refusals(api):
    """A direct room with yourself is 400; with an unknown user 404; a bad id 400."""
    alice = api()
    assert_error(alice.put(f"/users/{alice.id}/direct"), 400)
    assert_error(alice.put(f"/users/{uuid.uuid4()}/direct"), 404, "not_found")
    assert_error(alice.put("/users/not-a-uuid/direct"), 400, "validation_error")


def test_direct_room_is_private_to_the_pair(api):
    """A third user gets 404 on every endpoint of a direct room and never sees it listed."""
    alice, bob, carol = api(), api(), api()
    room = alice.put(f"/users/{bob.id}/direct").json()
    with alice.subscribe() as stream:
        stream.wait_ready(WAIT)
        message = post_and_await(alice, room["id"], "just us", stream)
    assert_invisible(carol, room["id"], message["id"])
    # Nor may the third user kick either member.
    assert_error(carol.delete(f"/rooms/{room['id']}/users/{bob.id}"), 404, "not_found")


def test_direct_room_cannot_be_left_or_joined(api):
    """Leaving a direct room is 409 for its members; joining it is 403 for a member
    (nobody joins a direct room) and 404 for anyone else (visibility comes first)."""
    alice, bob, carol = api(), api(), api()
    room = alice.put(f"/users/{bob.id}/direct").json()
    for client in (alice, bob):
        assert_error(client.delete(f"/rooms/{room['id']}/users/{client.id}"), 409, "conflict")
        assert_error(client.post(f"/rooms/{room['id']}/users", json={"chat_user": client.id}),
                     403, "forbidden")
    assert_error(carol.post(f"/rooms/{room['id']}/users", json={"chat_user": carol.id}),
                 404, "not_found")
    # Nobody may be invited into a direct room either.
    assert_error(alice.post(f"/rooms/{room['id']}/invitations", json={"user": carol.id}), 403)
    # Both are still members.
    assert {u["id"] for u in alice.get(f"/rooms/{room['id']}/users").json()} == {alice.id, bob.id}


def test_direct_messages_reach_both_streams_and_nobody_else(api):
    """A direct message is delivered live to both members (the author too), stored in
    history, and a third user's stream never gets it."""
    alice, bob, carol = api(), api(), api()
    room = alice.put(f"/users/{bob.id}/direct").json()
    with alice.subscribe() as a_stream, bob.subscribe() as b_stream, \
            carol.subscribe() as c_stream:
        ready = [s.wait_ready(WAIT) for s in (a_stream, b_stream, c_stream)]
        assert room["id"] in ready[0].json()["rooms"] and room["id"] in ready[1].json()["rooms"]
        assert room["id"] not in ready[2].json()["rooms"]
        sent = alice.post_message(room["id"], "hello bob")
        reply = bob.post_message(room["id"], "hello alice")
        for stream in (a_stream, b_stream):
            got = [e.json() for e in stream.events_until(is_chat(reply["id"]), timeout=WAIT)
                   if e.event == "message"]
            assert [m["id"] for m in got] == [sent["id"], reply["id"]]
            assert got[0] == sent and got[1] == reply
        # A marker in a room carol is in, posted after: once she has it, the DMs would
        # have arrived before it had they been sent to her.
        marker_room = carol.create_room()
        marker = carol.post_message(marker_room["id"], "marker")
        seen = c_stream.events_until(is_chat(marker["id"]), timeout=WAIT)
        assert not [e for e in seen if e.event == "message" and e.json()["room"] == room["id"]]
    assert [m["id"] for m in bob.history(room["id"])] == [sent["id"], reply["id"]]


def test_new_direct_room_reaches_open_streams(api):
    """Opening a direct room makes both users members at once: a stream opened before
    gets the room's messages without reconnecting."""
    alice, bob = api(), api()
    with bob.subscribe() as stream:
        stream.wait_ready(WAIT)
        room = alice.put(f"/users/{bob.id}/direct").json()
        joined = stream.events_until(
            lambda e: e.event == "membership" and e.json()["room"] == room["id"]
            and e.json()["user"] == bob.id, timeout=WAIT)
        assert joined[-1].json()["action"] == "joined"
        message = alice.post_message(room["id"], "are you there?")
        stream.events_until(is_chat(message["id"]), timeout=WAIT)


def test_private_room_name_is_unique_and_not_revealed(api):
    """Creating a room whose name a hidden private room holds is 409 name_taken (names are
    unique among live rooms), but the answer carries no detail of that room."""
    owner, other = api(), api()
    name = unique_name("secret")
    room = owner.create_room(name, kind="private")
    response = other.post("/rooms", json={"name": name.upper(), "kind": "public"})
    assert_error(response, 409, "name_taken")
    assert room["id"] not in response.text
