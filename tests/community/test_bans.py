"""Room bans, account bans, kicks and admin powers (API.md "Rooms and membership",
"Authentication", "The event stream"): who may do them, and what they do to the target,
live streams included."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.checks import WAIT, assert_error, is_chat
from tests.support.server import ChatClient

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def rfc3339(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def membership(room_id, user_id, action):
    return lambda e: e.event == "membership" and e.json() == {
        "room": room_id, "user": user_id, "action": action}


def ban(moderator, room_id, user_id, reason="spam", valid_until=None):
    body = {"user": user_id, "reason": reason}
    if valid_until is not None:
        body["valid_until"] = valid_until
    response = moderator.post(f"/rooms/{room_id}/bans", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def room_with_member(api):
    """(owner, member, public room)."""
    owner, member = api(), api()
    room = owner.create_room()
    member.join(room["id"])
    return owner, member, room


# -- room bans -------------------------------------------------------------------------------

def test_owner_bans_and_gets_a_ban_object(room_with_member):
    """POST /rooms/{id}/bans by the owner → 201 Ban {room, user, reason, valid_until,
    created_at}; valid_until is null without expiry and echoed when given."""
    owner, member, room = room_with_member
    created = ban(owner, room["id"], member.id, reason="flooding")
    assert set(created) == {"room", "user", "reason", "valid_until", "created_at"}
    assert created["room"] == room["id"] and created["user"] == member.id
    assert created["reason"] == "flooding" and created["valid_until"] is None
    assert RFC3339_Z.match(created["created_at"])
    until = datetime.now(timezone.utc) + timedelta(hours=1)
    renewed = ban(owner, room["id"], member.id, valid_until=rfc3339(until))
    assert RFC3339_Z.match(renewed["valid_until"])
    assert abs(parse(renewed["valid_until"]) - until) < timedelta(seconds=1)


def test_only_owner_or_admin_may_ban(api, room_with_member):
    """A member or outsider banning is 403 (nothing happens); private rooms stay hidden
    from outsiders (404); bad bodies are 400."""
    owner, member, room = room_with_member
    outsider = api()
    path = f"/rooms/{room['id']}/bans"
    assert_error(member.post(path, json={"user": owner.id, "reason": "x"}), 403, "forbidden")
    assert_error(outsider.post(path, json={"user": member.id, "reason": "x"}), 403, "forbidden")
    assert_error(member.get(path), 403, "forbidden")
    assert_error(member.delete(f"{path}/{member.id}"), 403, "forbidden")
    assert member.get(f"/rooms/{room['id']}").status_code == 200  # still in
    assert_error(owner.post(path, json={"user": str(uuid.uuid4()), "reason": "x"}),
                 404, "not_found")
    assert_error(owner.post(path, json={"reason": "x"}), 400, "validation_error")
    assert_error(owner.post(path, json={"user": member.id, "reason": "x",
                                        "valid_until": "tomorrow"}), 400, "validation_error")
    private = owner.create_room(kind="private")
    assert_error(outsider.post(f"/rooms/{private['id']}/bans",
                               json={"user": owner.id, "reason": "x"}), 404, "not_found")
    assert_error(outsider.get(f"/rooms/{private['id']}/bans"), 404, "not_found")


def test_valid_until_in_the_past_is_refused(room_with_member):
    """A ban that would already be over is 400 and bans nobody."""
    owner, member, room = room_with_member
    past = rfc3339(datetime.now(timezone.utc) - timedelta(minutes=1))
    assert_error(owner.post(f"/rooms/{room['id']}/bans",
                            json={"user": member.id, "reason": "x", "valid_until": past}), 400)
    assert owner.get(f"/rooms/{room['id']}/bans").json() == []
    assert member.get(f"/rooms/{room['id']}").status_code == 200


def test_banned_user_is_removed_live_and_stops_receiving(api, room_with_member):
    """The ban removes the user: a `membership` event with action "banned" reaches their
    open stream and the room's members, and from then on none of the room's messages."""
    owner, member, room = room_with_member
    other = owner.create_room()  # a second room both share, to prove delivery goes on
    member.join(other["id"])
    with member.subscribe() as m_stream, owner.subscribe() as o_stream:
        m_stream.wait_ready(WAIT)
        o_stream.wait_ready(WAIT)
        ban(owner, room["id"], member.id)
        banned = membership(room["id"], member.id, "banned")
        m_stream.events_until(banned, timeout=WAIT)
        o_stream.events_until(banned, timeout=WAIT)
        hidden = owner.post_message(room["id"], "they cannot see this")
        marker = owner.post_message(other["id"], "but they see this")
        o_stream.events_until(is_chat(hidden["id"]), timeout=WAIT)
        seen = m_stream.events_until(is_chat(marker["id"]), timeout=WAIT)
        assert not [e for e in seen if e.event == "message" and e.json()["room"] == room["id"]]
    members = owner.get(f"/rooms/{room['id']}/users").json()
    assert member.id not in {u["id"] for u in members}
    assert room["id"] not in {r["id"] for r in member.get(f"/users/{member.id}/rooms").json()}


def test_room_banned_user_cannot_join_post_or_read(room_with_member):
    """Until the ban ends, a public room answers 403 banned to its banned user: join,
    post, history, one message, members, the room itself."""
    owner, member, room = room_with_member
    message = owner.post_message(room["id"], "before the ban")
    ban(owner, room["id"], member.id)
    rid = room["id"]
    for response in (
        member.post(f"/rooms/{rid}/users", json={"chat_user": member.id}),
        member.post(f"/rooms/{rid}/messages", json={"message": "let me back"}),
        member.get(f"/rooms/{rid}/messages"),
        member.get(f"/rooms/{rid}/messages/{message['id']}"),
        member.get(f"/rooms/{rid}/users"),
        member.get(f"/rooms/{rid}"),
        member.put(f"/rooms/{rid}/read", json={"message": message["id"]}),
    ):
        assert_error(response, 403, "banned")
    # The room stays listed as public, but it is not among the user's rooms.
    assert room["id"] in {r["id"] for r in member.rooms()}


def test_banned_user_cannot_be_invited(api):
    """Inviting a user banned from the room is refused (409) and creates no invitation."""
    owner, target = api(), api()
    room = owner.create_room(kind="private")
    ban(owner, room["id"], target.id)
    assert_error(owner.post(f"/rooms/{room['id']}/invitations", json={"user": target.id}), 409)
    assert target.get("/users/me/invitations").json() == []
    assert_error(target.get(f"/rooms/{room['id']}"), 404, "not_found")


def test_ban_list_and_unban(room_with_member, admin):
    """GET /rooms/{id}/bans lists the active bans (owner or admin); DELETE
    /rooms/{id}/bans/{user} lifts one (204), after which the user can join again; lifting
    a ban that does not exist is 404."""
    owner, member, room = room_with_member
    created = ban(owner, room["id"], member.id)
    assert owner.get(f"/rooms/{room['id']}/bans").json() == [created]
    assert admin.get(f"/rooms/{room['id']}/bans").json() == [created]
    assert owner.delete(f"/rooms/{room['id']}/bans/{member.id}").status_code == 204
    assert owner.get(f"/rooms/{room['id']}/bans").json() == []
    assert_error(owner.delete(f"/rooms/{room['id']}/bans/{member.id}"), 404, "not_found")
    member.join(room["id"])
    member.post_message(room["id"], "back again")
    # An admin lifts bans too.
    ban(owner, room["id"], member.id)
    assert admin.delete(f"/rooms/{room['id']}/bans/{member.id}").status_code == 204
    member.join(room["id"])


def test_room_ban_expires_by_itself(room_with_member):
    """A ban with valid_until a moment ahead ends on its own: joining is 403 banned until
    then and 204 afterwards; the ban leaves the list."""
    owner, member, room = room_with_member
    until = datetime.now(timezone.utc) + timedelta(seconds=3)
    ban(owner, room["id"], member.id, valid_until=rfc3339(until))
    join = f"/rooms/{room['id']}/users"
    assert_error(member.post(join, json={"chat_user": member.id}), 403, "banned")
    deadline = time.monotonic() + 15
    while True:  # awaiting the expiry: a bounded poll of the join endpoint
        response = member.post(join, json={"chat_user": member.id})
        if response.status_code == 204:
            break
        assert_error(response, 403, "banned")
        assert time.monotonic() < deadline, "the ban did not expire"
        time.sleep(0.1)
    assert datetime.now(timezone.utc) >= until - timedelta(milliseconds=50)
    assert owner.get(f"/rooms/{room['id']}/bans").json() == []
    member.post_message(room["id"], "the ban is over")


def test_owner_cannot_ban_themselves(room_with_member):
    """Banning yourself is a 400, not a way to lock a room."""
    owner, member, room = room_with_member
    assert_error(owner.post(f"/rooms/{room['id']}/bans",
                            json={"user": owner.id, "reason": "oops"}), 400)


# -- kicks -----------------------------------------------------------------------------------

def test_owner_kicks_a_member(api, room_with_member):
    """DELETE /rooms/{room}/users/{user} by the owner → 204, a `membership` "kicked" event
    to the target's stream, and delivery stops; a kick is not a ban (rejoining works)."""
    owner, member, room = room_with_member
    with member.subscribe() as stream:
        stream.wait_ready(WAIT)
        assert owner.delete(f"/rooms/{room['id']}/users/{member.id}").status_code == 204
        stream.events_until(membership(room["id"], member.id, "kicked"), timeout=WAIT)
        hidden = owner.post_message(room["id"], "after the kick")
        marker_room = member.create_room()
        marker = member.post_message(marker_room["id"], "marker")
        seen = stream.events_until(is_chat(marker["id"]), timeout=WAIT)
        assert hidden["id"] not in {e.json().get("id") for e in seen if e.event == "message"}
    assert_error(member.post(f"/rooms/{room['id']}/messages", json={"message": "hi"}),
                 403, "not_member")
    member.join(room["id"])


def test_only_owner_or_admin_may_kick(api, room_with_member):
    """A member kicking another member is 403; kicking a non-member is 404; an outsider
    kicking in a private room sees 404."""
    owner, member, room = room_with_member
    third = api()
    third.join(room["id"])
    assert_error(member.delete(f"/rooms/{room['id']}/users/{third.id}"), 403, "forbidden")
    assert_error(member.delete(f"/rooms/{room['id']}/users/{owner.id}"), 403, "forbidden")
    assert third.id in {u["id"] for u in owner.get(f"/rooms/{room['id']}/users").json()}
    assert_error(owner.delete(f"/rooms/{room['id']}/users/{api().id}"), 404, "not_found")
    private = owner.create_room(kind="private")
    assert_error(third.delete(f"/rooms/{private['id']}/users/{owner.id}"), 404, "not_found")


# -- admins ----------------------------------------------------------------------------------

def test_admin_moderates_a_private_room_they_are_not_in(api, admin):
    """Admins kick and ban in any room, even a private one they are not in (the events
    reach the members), yet cannot see, read or post in it (404)."""
    owner, member, victim = api(), api(), api()
    room = owner.create_room(kind="private")
    for user in (member, victim):
        assert owner.post(f"/rooms/{room['id']}/invitations",
                          json={"user": user.id}).status_code == 201
        user.join(room["id"])
    message = owner.post_message(room["id"], "private talk")
    with owner.subscribe() as stream:
        stream.wait_ready(WAIT)
        assert admin.delete(f"/rooms/{room['id']}/users/{member.id}").status_code == 204
        stream.events_until(membership(room["id"], member.id, "kicked"), timeout=WAIT)
        created = ban(admin, room["id"], victim.id, reason="abuse")
        stream.events_until(membership(room["id"], victim.id, "banned"), timeout=WAIT)
    assert created["room"] == room["id"]
    assert admin.get(f"/rooms/{room['id']}/bans").json() == [created]
    rid = room["id"]
    for response in (admin.get(f"/rooms/{rid}"), admin.get(f"/rooms/{rid}/users"),
                     admin.get(f"/rooms/{rid}/messages"),
                     admin.get(f"/rooms/{rid}/messages/{message['id']}"),
                     admin.post(f"/rooms/{rid}/messages", json={"message": "hello?"}),
                     admin.post(f"/rooms/{rid}/users", json={"chat_user": admin.id})):
        assert_error(response, 404, "not_found")
    assert rid not in {r["id"] for r in admin.rooms()}


def test_admin_cannot_read_or_post_in_direct_rooms(api, admin):
    """A direct room is no admin's business: 404 for reading and posting."""
    alice, bob = api(), api()
    room = alice.put(f"/users/{bob.id}/direct").json()
    assert_error(admin.get(f"/rooms/{room['id']}/messages"), 404, "not_found")
    assert_error(admin.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 404, "not_found")


def test_admin_deletes_any_room(api, admin):
    """Admins delete rooms they neither own nor belong to (204, `room` deleted event to the
    members, then 404 everywhere); owners delete their own; others 403; general is 409."""
    owner, member = api(), api()
    room = owner.create_room(kind="private")
    assert owner.post(f"/rooms/{room['id']}/invitations",
                      json={"user": member.id}).status_code == 201
    member.join(room["id"])
    assert_error(member.delete(f"/rooms/{room['id']}"), 403, "forbidden")
    with member.subscribe() as stream:
        stream.wait_ready(WAIT)
        assert admin.delete(f"/rooms/{room['id']}").status_code == 204
        events = stream.events_until(lambda e: e.event == "room", timeout=WAIT)
        assert events[-1].json() == {"room": room["id"], "action": "deleted"}
        assert events[-1].has_id_field is False
    assert_error(owner.get(f"/rooms/{room['id']}"), 404, "not_found")
    public = owner.create_room()
    assert owner.delete(f"/rooms/{public['id']}").status_code == 204
    assert_error(admin.delete(f"/rooms/{public['id']}"), 404, "not_found")
    general = admin.general_room()
    assert_error(admin.delete(f"/rooms/{general['id']}"), 409, "conflict")


# -- account bans ----------------------------------------------------------------------------

def test_account_ban_is_admin_only(api, admin):
    """POST and DELETE /users/{id}/ban by a non-admin are 403 and change nothing."""
    user, target = api(), api()
    assert_error(user.post(f"/users/{target.id}/ban", json={"reason": "x"}), 403, "forbidden")
    assert_error(user.delete(f"/users/{target.id}/ban"), 403, "forbidden")
    assert target.get("/users/me").status_code == 200
    assert_error(admin.post(f"/users/{uuid.uuid4()}/ban", json={"reason": "x"}),
                 404, "not_found")
    assert_error(admin.delete(f"/users/{target.id}/ban"), 404, "not_found")  # not banned
    assert_error(admin.post(f"/users/{admin.id}/ban", json={"reason": "x"}), 400)


def test_account_ban_ends_sessions_and_streams(api, admin, live_server):
    """An account ban (201 Ban with room null) makes every session of the user answer 401
    at once, closes their open stream, and login answers 403 banned; DELETE
    /users/{id}/ban (204) lets them sign in again."""
    target = api()
    second = ChatClient(live_server)
    second.login(target.user["name"])
    with target.subscribe() as stream:
        stream.wait_ready(WAIT)
        response = admin.post(f"/users/{target.id}/ban", json={"reason": "spam bot"})
        assert response.status_code == 201, response.text
        created = response.json()
        assert set(created) == {"room", "user", "reason", "valid_until", "created_at"}
        assert created["room"] is None and created["user"] == target.id
        assert created["reason"] == "spam bot" and created["valid_until"] is None
        assert stream.wait_closed(WAIT), "the banned user's stream stayed open"
        assert stream.closed_by_server
    for client in (target, second):
        assert_error(client.get("/users/me"), 401, "unauthenticated")
    with target.subscribe() as refused:
        assert_error(refused.response, 401, "unauthenticated")
    login = target.post("/sessions", json={"name": target.user["name"],
                                           "password": "password123"})
    assert_error(login, 403, "banned")
    # A wrong password still answers 401: the ban reveals nothing to strangers.
    assert_error(target.post("/sessions", json={"name": target.user["name"],
                                                "password": "wrong-password"}),
                 401, "invalid_credentials")
    assert admin.delete(f"/users/{target.id}/ban").status_code == 204
    target.login(target.user["name"])
    assert target.get("/users/me").json()["id"] == target.id
    second.close()


def test_account_ban_with_expiry(api, admin):
    """An account ban with valid_until is echoed; a past valid_until is 400."""
    target = api()
    past = rfc3339(datetime.now(timezone.utc) - timedelta(seconds=5))
    assert_error(admin.post(f"/users/{target.id}/ban",
                            json={"reason": "x", "valid_until": past}), 400)
    assert target.get("/users/me").status_code == 200  # the refused ban did nothing
    until = datetime.now(timezone.utc) + timedelta(days=1)
    created = admin.post(f"/users/{target.id}/ban",
                         json={"reason": "cool off", "valid_until": rfc3339(until)}).json()
    assert abs(parse(created["valid_until"]) - until) < timedelta(seconds=1)
    assert_error(target.get("/users/me"), 401, "unauthenticated")


def test_room_ban_binds_the_owner_too(api, admin):
    """A room-banned user gets 403 banned on every endpoint of that room, moderation ones
    included: an owner banned by an admin cannot lift their own ban, kick, list bans or
    delete the room."""
    owner, member, bystander = api(), api(), api()
    room = owner.create_room()
    member.join(room["id"])
    bystander.join(room["id"])  # keeps the room alive once both others are banned
    ban(admin, room["id"], owner.id, reason="abusive owner")
    rid = room["id"]
    for response in (owner.delete(f"/rooms/{rid}/bans/{owner.id}"),
                     owner.get(f"/rooms/{rid}/bans"),
                     owner.post(f"/rooms/{rid}/bans", json={"user": member.id, "reason": "x"}),
                     owner.delete(f"/rooms/{rid}/users/{member.id}"),
                     owner.delete(f"/rooms/{rid}")):
        assert_error(response, 403, "banned")
    assert member.get(f"/rooms/{rid}").status_code == 200
    assert member.id in {u["id"] for u in member.get(f"/rooms/{rid}/users").json()}
    assert [b["user"] for b in admin.get(f"/rooms/{rid}/bans").json()] == [owner.id]
    # A banned plain user is told they are banned, not merely "not the owner".
    ban(admin, rid, member.id)
    assert_error(member.get(f"/rooms/{rid}/bans"), 403, "banned")


def test_deleted_direct_room_gives_way_to_a_new_one(api, admin):
    """An admin may delete a direct room (204, then 404 for its members); asking for the
    pair's direct room again gives a new, working room (201), not the deleted one."""
    alice, bob = api(), api()
    old = alice.put(f"/users/{bob.id}/direct").json()
    alice.post_message(old["id"], "before")
    assert admin.delete(f"/rooms/{old['id']}").status_code == 204
    assert_error(alice.get(f"/rooms/{old['id']}"), 404, "not_found")
    response = bob.put(f"/users/{alice.id}/direct")
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["id"] != old["id"] and new["kind"] == "direct"
    assert alice.put(f"/users/{bob.id}/direct").json()["id"] == new["id"]
    assert {u["id"] for u in alice.get(f"/rooms/{new['id']}/users").json()} == {alice.id, bob.id}
    assert alice.history(new["id"]) == []
    bob.post_message(new["id"], "after")
