"""API.md "Rooms and membership" (public rooms): create, list, get, delete (owner/admin;
`general` is undeletable), members, join/leave/kick, and deactivation when the last member
leaves. Also "Running it", the CLI that makes admins and seeds rooms: `flask seed` is
idempotent (one `general`, one welcome message by `chatterly-bot`, a `ghost` user),
`flask seed --demo` prints passwords that work, `flask users make-admin NAME` gives admin
rights and fails for unknown names. (One module, so one server per backend.)"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.api.core_support import (
    assert_room,
    full_history,
    unique_room_name,
    wait_for,
    wait_stored,
)
from tests.support.checks import assert_error
from tests.support.server import ChatClient, flask_cli, unique_name


def _member_ids(client, room_id):
    response = client.get(f"/rooms/{room_id}/users")
    assert response.status_code == 200, response.text
    return {m["id"] for m in response.json()}


def test_create_room(api):
    """POST /rooms → 201 Room {id, name, kind, owner, created_at}; kind defaults to public;
    the creator is the owner and first member; private rooms too."""
    me = api()
    name = unique_room_name()
    response = me.post("/rooms", json={"name": name})
    assert response.status_code == 201, response.text
    room = response.json()
    assert_room(room, name=name, kind="public", owner=me.id)
    assert me.get(f"/rooms/{room['id']}").json() == room
    members = me.get(f"/rooms/{room['id']}/users").json()
    assert [m["id"] for m in members] == [me.id]
    assert set(members[0]) == {"id", "name", "api_user", "created_at", "online"}
    assert isinstance(members[0]["online"], bool)
    private = me.create_room(kind="private")
    assert_room(private, kind="private", owner=me.id)
    explicit = me.post("/rooms", json={"name": unique_room_name(), "kind": "public"})
    assert explicit.status_code == 201 and explicit.json()["kind"] == "public"


def test_room_name_rules(api):
    """Room names: 1–64 chars after trimming, no control characters (400 invalid_name);
    unique case-insensitively among live rooms (409 name_taken); Unicode is fine."""
    me, other = api(), api()
    for bad in ("", "   ", "x" * 65, "bell\x07", "new\nline", "tab\tname",
                "line\u2028sep", " " + "y" * 65 + " "):
        assert_error(me.post("/rooms", json={"name": bad}), 400, "invalid_name")
    # Text no column can hold is refused before any name rule (API.md 1.1).
    assert_error(me.post("/rooms", json={"name": "nul\x00"}), 400, "validation_error")
    padded = "  " + unique_room_name() + "  "
    trimmed = me.post("/rooms", json={"name": padded})
    assert trimmed.status_code == 201 and trimmed.json()["name"] == padded.strip()
    longest = ("R" + uuid.uuid4().hex * 3)[:64]
    assert me.post("/rooms", json={"name": longest}).json()["name"] == longest
    unicode_name = "café ☕ " + uuid.uuid4().hex[:6]
    assert me.post("/rooms", json={"name": unicode_name}).json()["name"] == unicode_name
    single = me.post("/rooms", json={"name": "Z"})
    assert single.status_code == 201, single.text
    taken = me.create_room()["name"]
    for duplicate in (taken, taken.upper(), "  " + taken.lower() + " "):
        assert_error(other.post("/rooms", json={"name": duplicate}), 409, "name_taken")
    assert_error(me.post("/rooms", json={"name": "GENERAL"}), 409, "name_taken")
    assert_error(me.post("/rooms", json={"name": taken, "kind": "private"}), 409, "name_taken")


def test_room_names_compare_after_nfkc_and_case_folding(api):
    """One name however it is typed: composed or decomposed accents, ß and SS, full-width
    letters are the same name (409); the name is shown as given, in NFC."""
    me, other = api(), api()
    tag = uuid.uuid4().hex[:6]
    decomposed = f"Cafe\u0301 {tag}"
    created = me.post("/rooms", json={"name": decomposed})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == f"Caf\u00e9 {tag}"
    for same in (f"caf\u00e9 {tag}", f"CAF\u00c9 {tag}"):
        assert_error(other.post("/rooms", json={"name": same}), 409, "name_taken")
    assert me.post("/rooms", json={"name": f"stra\u00dfe {tag}"}).status_code == 201
    assert_error(other.post("/rooms", json={"name": f"STRASSE {tag}"}), 409, "name_taken")
    assert me.post("/rooms", json={"name": f"Room{tag}"}).status_code == 201
    full_width = "\uff32\uff4f\uff4f\uff4d" + tag  # "Ｒｏｏｍ" + tag
    assert_error(other.post("/rooms", json={"name": full_width}), 409, "name_taken")
    # A different name is still free.
    assert other.post("/rooms", json={"name": f"Cafe {tag}"}).status_code == 201


def test_list_and_get_rooms(api):
    """GET /rooms: public rooms plus every room the caller belongs to (not others' private
    rooms); GET /rooms/{id}: 200, or 404 for an unknown room or a private room the caller
    is not in."""
    me, other = api(), api()
    public = other.create_room()
    their_private = other.create_room(kind="private")
    my_private = me.create_room(kind="private")
    listed = {r["id"]: r for r in me.rooms()}
    for room in listed.values():
        assert_room(room)
    assert public["id"] in listed and my_private["id"] in listed
    assert their_private["id"] not in listed
    assert me.general_room()["id"] in listed
    assert all(r["kind"] == "public" or r["id"] == my_private["id"] for r in listed.values())
    assert me.get(f"/rooms/{public['id']}").json() == public
    assert me.get(f"/rooms/{my_private['id']}").json() == my_private
    assert_error(me.get(f"/rooms/{their_private['id']}"), 404, "not_found")
    assert_error(me.get(f"/rooms/{their_private['id']}/users"), 404, "not_found")
    assert_error(me.get(f"/rooms/{uuid.uuid4()}"), 404, "not_found")
    assert_error(me.get(f"/rooms/{uuid.uuid4()}/users"), 404, "not_found")


def test_join_and_leave_a_public_room(api):
    """POST /rooms/{id}/users {chat_user: me} → 204 (again: 409; for someone else: 403);
    DELETE /rooms/{room}/users/{me} → 204; unknown room: 404."""
    owner, me, third = api(), api(), api()
    room = owner.create_room()
    assert_error(me.post(f"/rooms/{room['id']}/users", json={"chat_user": third.id}),
                 403, "forbidden")
    assert third.id not in _member_ids(owner, room["id"])
    response = me.post(f"/rooms/{room['id']}/users", json={"chat_user": me.id})
    assert response.status_code == 204 and not response.content
    assert _member_ids(owner, room["id"]) == {owner.id, me.id}
    assert_error(me.post(f"/rooms/{room['id']}/users", json={"chat_user": me.id}),
                 409, "conflict")
    assert room["id"] in {r["id"] for r in me.get(f"/users/{me.id}/rooms").json()}
    assert me.post_message(room["id"], "member now")["room"] == room["id"]
    response = me.delete(f"/rooms/{room['id']}/users/{me.id}")
    assert response.status_code == 204 and not response.content
    assert _member_ids(owner, room["id"]) == {owner.id}
    assert room["id"] not in {r["id"] for r in me.get(f"/users/{me.id}/rooms").json()}
    assert room["id"] in {r["id"] for r in me.rooms()}  # still public and listed
    assert_error(me.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 403, "not_member")
    me.join(room["id"])  # rejoining works
    assert_error(me.post(f"/rooms/{uuid.uuid4()}/users", json={"chat_user": me.id}),
                 404, "not_found")


def test_kick_is_for_the_owner_or_an_admin(api, admin):
    """Removing someone else: owner or admin 204, anyone else 403."""
    owner, a, b = api(), api(), api()
    room = owner.create_room()
    a.join(room["id"])
    b.join(room["id"])
    assert_error(a.delete(f"/rooms/{room['id']}/users/{b.id}"), 403, "forbidden")
    assert b.id in _member_ids(owner, room["id"])
    assert owner.delete(f"/rooms/{room['id']}/users/{b.id}").status_code == 204
    assert admin.delete(f"/rooms/{room['id']}/users/{a.id}").status_code == 204
    assert _member_ids(owner, room["id"]) == {owner.id}
    assert_error(b.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 403, "not_member")


def test_delete_room_by_owner(api):
    """DELETE /rooms/{id}: owner 204; other members and strangers 403; afterwards 404
    everywhere, gone from every list, and the name is free again."""
    owner, member, stranger = api(), api(), api()
    room = owner.create_room()
    member.join(room["id"])
    for client in (member, stranger):
        assert_error(client.delete(f"/rooms/{room['id']}"), 403, "forbidden")
    assert owner.get(f"/rooms/{room['id']}").status_code == 200
    response = owner.delete(f"/rooms/{room['id']}")
    assert response.status_code == 204 and not response.content
    _assert_gone(room, owner, member, stranger)
    assert_error(owner.delete(f"/rooms/{room['id']}"), 404, "not_found")
    again = owner.post("/rooms", json={"name": room["name"]})
    assert again.status_code == 201 and again.json()["id"] != room["id"]


def test_admin_deletes_any_room_but_general_is_undeletable(api, admin):
    """An admin may delete anyone's room (204); `general` cannot be deleted: 409 for the
    admin, 403 for everyone else."""
    owner = api()
    room = owner.create_room()
    assert admin.delete(f"/rooms/{room['id']}").status_code == 204
    _assert_gone(room, owner)
    general = owner.general_room()
    assert_error(owner.delete(f"/rooms/{general['id']}"), 403, "forbidden")
    assert_error(admin.delete(f"/rooms/{general['id']}"), 409, "conflict")
    assert owner.get(f"/rooms/{general['id']}").status_code == 200
    assert admin.delete(f"/rooms/{uuid.uuid4()}").status_code == 404


def _assert_gone(room, *clients):
    """A deactivated room: 404 on every endpoint and in no list."""
    rid = room["id"]
    for client in clients:
        assert_error(client.get(f"/rooms/{rid}"), 404, "not_found")
        assert_error(client.get(f"/rooms/{rid}/users"), 404, "not_found")
        assert_error(client.get(f"/rooms/{rid}/messages"), 404, "not_found")
        assert_error(client.post(f"/rooms/{rid}/messages", json={"message": "hello?"}),
                     404, "not_found")
        assert_error(client.post(f"/rooms/{rid}/users", json={"chat_user": client.id}),
                     404, "not_found")
        assert_error(client.delete(f"/rooms/{rid}/users/{client.id}"), 404, "not_found")
        assert rid not in {r["id"] for r in client.rooms()}
        assert rid not in {r["id"] for r in client.get(f"/users/{client.id}/rooms").json()}


def test_last_member_leaving_deactivates_the_room(api):
    """When the last member leaves, the room is deactivated: gone from lists, 404, no
    posts, and its name can be used again."""
    owner, member = api(), api()
    room = owner.create_room()
    member.join(room["id"])
    member.post_message(room["id"], "before everyone left")
    owner.leave(room["id"])  # one member is left: still alive
    assert owner.get(f"/rooms/{room['id']}").json() == room
    assert _member_ids(owner, room["id"]) == {member.id}
    member.leave(room["id"])
    _assert_gone(room, owner, member)
    reborn = member.post("/rooms", json={"name": room["name"].upper()})
    assert reborn.status_code == 201, reborn.text
    assert reborn.json()["id"] != room["id"] and reborn.json()["owner"] == member.id
    assert owner.history(reborn.json()["id"]) == []  # the old room's messages stay apart


def test_members_list(api):
    """GET /rooms/{id}/users: the members as Users with `online`; public rooms are visible
    to any signed-in user."""
    owner, a, outsider = api(), api(), api()
    room = owner.create_room()
    a.join(room["id"])
    response = outsider.get(f"/rooms/{room['id']}/users")
    assert response.status_code == 200
    members = {m["id"]: m for m in response.json()}
    assert set(members) == {owner.id, a.id}
    for member, client in ((members[owner.id], owner), (members[a.id], a)):
        assert {k: member[k] for k in ("id", "name", "api_user", "created_at")} == client.user
        assert member["online"] is False
    with a.subscribe() as stream:
        stream.wait_ready()
        # `online` while a stream is open (presence is announced right away).
        assert any(m["id"] == a.id and m["online"] is True
                   for m in _poll_members(owner, room["id"], a.id))


def _poll_members(client, room_id, user_id):
    def online():
        members = client.get(f"/rooms/{room_id}/users").json()
        return members if any(m["id"] == user_id and m["online"] for m in members) else None

    return wait_for(online, 5, "member shown online")


# -- the CLI -------------------------------------------------------------------------------


def _system_user(client, name):
    found = client.get("/users", params={"name": name}).json()
    assert len(found) == 1, (name, found)
    return found[0]


def test_seed_is_idempotent_and_demo_passwords_work(api, server_env, live_server):
    """`flask seed` run twice more (the test database was seeded once already), the second
    time with `--demo`: still one `general` room with one welcome message by `chatterly-bot`, the
    system users exist and cannot sign in; the printed demo passwords sign in."""
    me = api()
    before = me.general_room()
    flask_cli("seed", env=server_env)
    output = flask_cli("seed", "--demo", env=server_env)

    generals = [r for r in me.rooms() if r["name"].lower() == "general"]
    assert generals == [before]
    bot = _system_user(me, "chatterly-bot")
    ghost = _system_user(me, "ghost")
    welcome = [m for m in full_history(me, before["id"]) if m["user"] == bot["id"]]
    assert len(welcome) == 1 and welcome[0]["message"].strip(), welcome
    assert me.id in {m["id"] for m in me.get(f"/rooms/{before['id']}/users").json()}
    for system in (bot, ghost):
        assert_error(me.post("/sessions", json={"name": system["name"],
                                                "password": "password123"}),
                     401, "invalid_credentials")

    # "demo user NAME / password SECRET" lines (one per demo user).
    demo = dict(re.findall(r"user\s+([A-Za-z0-9_.-]+)\s*/\s*password\s+(\S+)", output))
    assert len(demo) >= 2, output
    for name, password in demo.items():
        client = ChatClient(live_server.api)
        try:
            body = client.login(name, password)
            assert body["user"]["name"] == name
            assert client.general_room()["id"] == before["id"]  # demo users are in general
            assert_error(client.post("/sessions", json={"name": name, "password": "x" + password}),
                         401, "invalid_credentials")
        finally:
            client.close()


def test_make_admin(api, server_env):
    """`flask users make-admin NAME`: from then on that user may delete other people's
    rooms and accounts (403 before); admins still do not read or post in private rooms
    they are not in."""
    owner, future_admin, victim = api(), api(), api()
    room = owner.create_room()
    private = owner.create_room(kind="private")
    secret = owner.post_message(private["id"], "members only")
    wait_stored(owner, private["id"], [secret["id"]])
    assert_error(future_admin.delete(f"/rooms/{room['id']}"), 403, "forbidden")
    assert_error(future_admin.delete(f"/users/{victim.id}"), 403, "forbidden")

    output = flask_cli("users", "make-admin", future_admin.user["name"], env=server_env)
    assert future_admin.user["name"] in output

    # The same session now has admin rights.
    assert future_admin.delete(f"/rooms/{room['id']}").status_code == 204
    assert_error(owner.get(f"/rooms/{room['id']}"), 404, "not_found")
    assert future_admin.delete(f"/users/{victim.id}").status_code == 204
    assert_error(victim.get("/users/me"), 401, "unauthenticated")
    assert_error(future_admin.get(f"/users/{victim.id}"), 404, "not_found")
    # Not a reader or poster of private rooms it is not in.
    assert_error(future_admin.get(f"/rooms/{private['id']}/messages"), 404, "not_found")
    assert_error(future_admin.get(f"/rooms/{private['id']}/messages/{secret['id']}"),
                 404, "not_found")
    assert_error(future_admin.post(f"/rooms/{private['id']}/messages", json={"message": "x"}),
                 404, "not_found")
    # The admin flag is not part of the User object.
    assert set(future_admin.get("/users/me").json()) == {"id", "name", "api_user",
                                                          "created_at"}


def test_make_admin_of_an_unknown_name_fails(server_env):
    """`flask users make-admin` with an unknown name exits non-zero and says so."""
    name = unique_name("nobody")
    with pytest.raises(RuntimeError) as failure:
        flask_cli("users", "make-admin", name, env=server_env)
    assert name in str(failure.value)
