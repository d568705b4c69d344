"""API.md 1.1 messages: replies, mentions (and mention_count), edits, deletions,
reactions, typing, and `peer` on direct rooms — the rules and who may do what. The
stream side (order, scope, replay) is in tests/stream/test_message_events.py."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.api.core_support import assert_message, assert_room, assert_user, sql
from tests.support.checks import WAIT, assert_error, is_chat
from tests.support.server import ChatClient


@pytest.fixture(scope="module")
def server_env(server_env):
    return {**server_env, "CHAT_RATE_LIMIT": "100000/second"}


def post(client, room_id, text, **fields):
    return client.post(f"/rooms/{room_id}/messages", json={"message": text, **fields})


def edit(client, room_id, message_id, text):
    return client.request("PATCH", f"/rooms/{room_id}/messages/{message_id}",
                          json={"message": text})


def react_path(room_id, message_id, emoji):
    return f"/rooms/{room_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}"


def one(client, room_id, message_id):
    return client.get(f"/rooms/{room_id}/messages/{message_id}")


@pytest.fixture
def trio(api):
    """alice owns a public room that bob and carol are in."""
    alice, bob, carol = api(), api(), api()
    room = alice.create_room()
    for member in (bob, carol):
        assert member.join(room["id"]).status_code == 204
    return alice, bob, carol, room


# -- every Message has the nine fields -------------------------------------------------------

def test_the_nine_fields_are_the_same_in_every_place_a_message_appears(trio):
    """The 202 body, the single GET, history and the stream show one identical Message,
    with reply_to, edited_at, mentions and reactions."""
    alice, bob, _, room = trio
    first = alice.post_message(room["id"], "first")
    with bob.subscribe() as sse:
        sse.wait_ready(WAIT)
        response = post(alice, room["id"], f"hi @{bob.user['name']}", reply_to=first["id"])
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert_message(accepted, reply_to=first["id"], edited_at=None,
                       mentions=[bob.id], reactions=[])
        streamed = sse.events_until(is_chat(accepted["id"]), timeout=WAIT)[-1].json()
    assert streamed == accepted
    assert one(alice, room["id"], accepted["id"]).json() == accepted
    assert alice.history(room["id"])[-1] == accepted
    assert_message(first, reply_to=None, mentions=[], reactions=[], edited_at=None)


# -- replies ---------------------------------------------------------------------------------

def test_reply_to_must_name_a_message_of_the_same_room(trio, api):
    alice, bob, _, room = trio
    original = alice.post_message(room["id"], "question?")
    reply = post(bob, room["id"], "answer", reply_to=original["id"])
    assert reply.status_code == 202 and reply.json()["reply_to"] == original["id"]
    elsewhere = alice.create_room()
    foreign = alice.post_message(elsewhere["id"], "elsewhere")
    for bad in (foreign["id"], str(uuid.uuid4()), "not-a-uuid", 7):
        assert_error(post(bob, room["id"], "x", reply_to=bad), 400, "validation_error")
    assert post(bob, room["id"], "no reply", reply_to=None).json()["reply_to"] is None
    assert [m["message"] for m in alice.history(room["id"])][-2:] == ["answer", "no reply"]


# -- mentions --------------------------------------------------------------------------------

def test_mentions_name_members_as_whole_names_case_insensitively(trio, api):
    alice, bob, carol, room = trio
    outsider = api()
    b, c = bob.user["name"], carol.user["name"]
    cases = [
        (f"hey @{b.upper()} and @{c}", [bob.id, carol.id]),
        (f"@{c}, then @{b}.", [carol.id, bob.id]),           # text order, full stop
        (f"@{b} @{b} again", [bob.id]),                      # once each
        (f"@{b}x is someone else, mail {b}@{c}", []),        # whole names only
        (f"@{outsider.user['name']} is not in the room", []),
        ("no mentions at all", []),
    ]
    for text, expected in cases:
        assert alice.post_message(room["id"], text)["mentions"] == expected, text
    assert [m["mentions"] for m in alice.history(room["id"])] == [e for _, e in cases]


def test_mention_count_counts_unread_messages_by_others_that_mention_you(trio):
    alice, bob, _, room = trio

    def counts(client):
        entry = next(r for r in client.get(f"/users/{client.id}/rooms").json()
                     if r["id"] == room["id"])
        return entry["unread_count"], entry["mention_count"]

    assert counts(bob) == (0, 0)
    m1 = alice.post_message(room["id"], f"@{bob.user['name']} look")
    alice.post_message(room["id"], "no mention")
    m3 = alice.post_message(room["id"], f"and @{bob.user['name']} again")
    bob.post_message(room["id"], f"@{bob.user['name']} talking to myself")
    assert counts(bob) == (3, 2)
    assert bob.put(f"/rooms/{room['id']}/read", json={"message": m1["id"]}).status_code == 204
    assert counts(bob) == (2, 1)
    # A deleted message no longer counts, as unread or as a mention.
    assert alice.delete(f"/rooms/{room['id']}/messages/{m3['id']}").status_code == 204
    assert counts(bob) == (1, 0)
    # An edit that adds a mention counts it; one that removes it uncounts it.
    later = alice.post_message(room["id"], "plain")
    assert counts(bob) == (2, 0)
    response = edit(alice, room["id"], later["id"], f"@{bob.user['name']}!")
    assert response.status_code == 200, response.text
    assert response.json()["mentions"] == [bob.id]
    assert counts(bob) == (2, 1)
    assert edit(alice, room["id"], later["id"], "plain again").json()["mentions"] == []
    assert counts(bob) == (2, 0)
    assert counts(alice) == (1, 0)  # bob's own-mention message is unread for alice


# -- edits -----------------------------------------------------------------------------------

def test_the_author_edits_a_message(trio):
    alice, bob, carol, room = trio
    original = post(alice, room["id"], "helo", reply_to=None).json()
    reply = post(bob, room["id"], "typo!", reply_to=original["id"]).json()
    response = edit(alice, room["id"], original["id"], f"hello @{carol.user['name']}")
    assert response.status_code == 200, response.text
    edited = response.json()
    assert_message(edited, id=original["id"], message=f"hello @{carol.user['name']}",
                   created_at=original["created_at"], mentions=[carol.id])
    assert edited["edited_at"] is not None and edited["edited_at"] >= original["created_at"]
    assert one(bob, room["id"], original["id"]).json() == edited
    assert [m for m in alice.history(room["id"]) if m["id"] == original["id"]] == [edited]
    # The reply keeps pointing at it; an edited reply keeps its reply_to.
    assert edit(bob, room["id"], reply["id"], "fixed").json()["reply_to"] == original["id"]


def test_only_the_author_may_edit_and_the_text_rules_hold(trio, admin):
    alice, bob, _, room = trio
    message = alice.post_message(room["id"], "mine")
    assert_error(edit(bob, room["id"], message["id"], "hijack"), 403, "forbidden")
    assert_error(edit(admin, room["id"], message["id"], "admin"), 403)
    assert_error(edit(alice, room["id"], message["id"], "   "), 400, "empty_message")
    assert_error(edit(alice, room["id"], message["id"], "x" * 4001), 400, "message_too_long")
    assert_error(alice.request("PATCH", f"/rooms/{room['id']}/messages/{message['id']}",
                               json={"text": "wrong field"}), 400, "validation_error")
    assert_error(edit(alice, room["id"], str(uuid.uuid4()), "unknown"), 404, "not_found")
    other_room = alice.create_room()
    assert_error(edit(alice, other_room["id"], message["id"], "wrong room"), 404, "not_found")
    assert one(alice, room["id"], message["id"]).json() == message  # nothing changed


# -- deletions -------------------------------------------------------------------------------

def test_a_deleted_message_is_gone_but_its_id_still_works_as_a_cursor(trio, database_url):
    alice, bob, _, room = trio
    before = alice.post_message(room["id"], "before")
    doomed = post(bob, room["id"], f"secret text @{alice.user['name']}").json()
    assert bob.put(react_path(room["id"], doomed["id"], "👍")).status_code == 204
    after = alice.post_message(room["id"], "after")
    assert bob.delete(f"/rooms/{room['id']}/messages/{doomed['id']}").status_code == 204
    assert [m["id"] for m in alice.history(room["id"])][-2:] == [before["id"], after["id"]]
    assert_error(one(alice, room["id"], doomed["id"]), 404, "not_found")
    assert [m["id"] for m in alice.history(room["id"], before=doomed["id"])][-1] == before["id"]
    assert [m["id"] for m in alice.history(room["id"], after=doomed["id"])] == [after["id"]]
    # Its text, mentions and reactions are erased from the database.
    (text,), = sql(database_url, "SELECT message FROM messages WHERE id = :id",
                   id=uuid.UUID(doomed["id"]).hex if "sqlite" in database_url else doomed["id"])
    assert text == ""
    assert sql(database_url, "SELECT count(*) FROM messages WHERE message LIKE '%secret text%'") \
        == [(0,)]
    # Deleting it again, editing or reacting to it: 404.
    assert_error(bob.delete(f"/rooms/{room['id']}/messages/{doomed['id']}"), 404)
    assert_error(edit(bob, room["id"], doomed["id"], "revive"), 404)
    assert_error(bob.put(react_path(room["id"], doomed["id"], "👍")), 404)


def test_who_may_delete_a_message(api, admin):
    """The author, the room's owner, or an admin (even in a private room they are not
    in); any other member: 403; an outsider of a private room: 404."""
    owner, author, other = api(), api(), api()
    room = owner.create_room(kind="private")
    for client in (author, other):
        invite = owner.post(f"/rooms/{room['id']}/invitations", json={"user": client.id})
        assert invite.status_code == 201
        assert client.join(room["id"]).status_code == 204
    outsider = api()
    messages = [author.post_message(room["id"], f"m{i}") for i in range(3)]
    path = f"/rooms/{room['id']}/messages/" + "{}"
    assert_error(other.delete(path.format(messages[0]["id"])), 403, "forbidden")
    assert_error(outsider.delete(path.format(messages[0]["id"])), 404)
    assert author.delete(path.format(messages[0]["id"])).status_code == 204
    assert owner.delete(path.format(messages[1]["id"])).status_code == 204
    assert admin.delete(path.format(messages[2]["id"])).status_code == 204
    assert author.history(room["id"]) == []


# -- reactions -------------------------------------------------------------------------------

def test_reactions_are_idempotent_counted_and_ordered_by_first_use(trio):
    alice, bob, carol, room = trio
    message = alice.post_message(room["id"], "react to me")
    path = lambda emoji: react_path(room["id"], message["id"], emoji)  # noqa: E731
    for client, emoji in [(bob, "🎉"), (bob, "🎉"), (carol, "👍"), (alice, "🎉"),
                          (carol, ":party_parrot:"), (alice, "👍🏽")]:
        assert client.put(path(emoji)).status_code == 204
    reactions = one(alice, room["id"], message["id"]).json()["reactions"]
    assert reactions == [
        {"emoji": "🎉", "count": 2, "users": [bob.id, alice.id]},
        {"emoji": "👍", "count": 1, "users": [carol.id]},
        {"emoji": ":party_parrot:", "count": 1, "users": [carol.id]},
        {"emoji": "👍🏽", "count": 1, "users": [alice.id]},
    ]
    assert bob.delete(path("🎉")).status_code == 204
    assert bob.delete(path("🎉")).status_code == 204  # not there: still 204
    assert carol.delete(path("❤️")).status_code == 204
    # Order is by first use among the reactions that are there: alice's 🎉 came after 👍.
    reactions = alice.history(room["id"])[-1]["reactions"]
    assert [r["emoji"] for r in reactions] == ["👍", "🎉", ":party_parrot:", "👍🏽"]
    assert reactions[1] == {"emoji": "🎉", "count": 1, "users": [alice.id]}
    assert alice.delete(path("🎉")).status_code == 204
    assert [r["emoji"] for r in one(bob, room["id"], message["id"]).json()["reactions"]] \
        == ["👍", ":party_parrot:", "👍🏽"]


@pytest.mark.parametrize("emoji", ["a", "ok", " ", "👍 👍", "\u202e👍", ":no spaces:",
                                   "👍" * 33, "x👍", "::", "1"])
def test_a_bad_emoji_is_a_400(trio, emoji):
    alice, _, _, room = trio
    message = alice.post_message(room["id"], "x")
    assert_error(alice.put(react_path(room["id"], message["id"], emoji)), 400,
                 "validation_error")
    assert one(alice, room["id"], message["id"]).json()["reactions"] == []


def test_only_members_react(trio, api):
    alice, _, _, room = trio
    message = alice.post_message(room["id"], "members only")
    outsider = api()
    assert_error(outsider.put(react_path(room["id"], message["id"], "👍")), 403, "not_member")
    private = alice.create_room(kind="private")
    hidden = alice.post_message(private["id"], "hidden")
    assert_error(outsider.put(react_path(private["id"], hidden["id"], "👍")), 404)
    assert_error(alice.put(react_path(room["id"], hidden["id"], "👍")), 404)  # wrong room


# -- typing ----------------------------------------------------------------------------------

def test_typing_reaches_the_other_members_once_per_three_seconds(trio, api):
    alice, bob, carol, room = trio
    outsider = api()
    with bob.subscribe() as bob_sse, alice.subscribe() as alice_sse:
        bob_sse.wait_ready(WAIT)
        alice_sse.wait_ready(WAIT)
        for _ in range(3):
            assert alice.post(f"/rooms/{room['id']}/typing").status_code == 204
        assert carol.post(f"/rooms/{room['id']}/typing").status_code == 204
        # A message after them: everything announced before it has arrived by then.
        barrier = alice.post_message(room["id"], "barrier")
        seen = bob_sse.events_until(is_chat(barrier["id"]), timeout=WAIT)
        typing = [e.json() for e in seen if e.event == "typing"]
        assert typing == [{"room": room["id"], "user": alice.id},
                          {"room": room["id"], "user": carol.id}]
        assert all(not e.has_id_field for e in seen if e.event == "typing")
        mine = alice_sse.events_until(is_chat(barrier["id"]), timeout=WAIT)
        assert [e.json()["user"] for e in mine if e.event == "typing"] == [carol.id]
    assert_error(outsider.post(f"/rooms/{room['id']}/typing"), 403, "not_member")
    # Nothing stored: a resume does not replay typing.
    with bob.subscribe(last_event_id=barrier["id"]) as sse:
        sse.wait_ready(WAIT)
        after = alice.post_message(room["id"], "after")
        assert [e.event for e in sse.events_until(is_chat(after["id"]), timeout=WAIT)] \
            == ["message"]


# -- direct rooms carry peer -----------------------------------------------------------------

def test_a_direct_room_names_the_other_person_wherever_it_is_returned(api):
    alice, bob = api(), api()
    response = alice.put(f"/users/{bob.id}/direct")
    assert response.status_code == 201
    room = response.json()
    assert_room(room, kind="direct")
    assert room["peer"] == bob.user
    assert bob.put(f"/users/{alice.id}/direct").json()["peer"] == alice.user
    assert alice.get(f"/rooms/{room['id']}").json()["peer"] == bob.user
    assert next(r for r in bob.rooms() if r["id"] == room["id"])["peer"] == alice.user
    mine = next(r for r in alice.get(f"/users/{alice.id}/rooms").json() if r["id"] == room["id"])
    assert_user(mine["peer"])
    assert mine["peer"]["id"] == bob.id
    # Other rooms carry no peer.
    assert all("peer" not in r for r in alice.rooms() if r["kind"] != "direct")


def test_every_new_endpoint_refuses_a_bad_path_id_before_anything_else(live_server):
    anonymous = ChatClient(live_server.api)
    for method, path in [("PATCH", "/rooms/x/messages/y"), ("DELETE", "/rooms/x/messages/y"),
                         ("PUT", "/rooms/x/messages/y/reactions/%F0%9F%91%8D"),
                         ("POST", "/rooms/x/typing")]:
        assert_error(anonymous.request(method, path), 400, "validation_error")
