"""Account deletion (API.md "Users" `DELETE /users/{id}`): self or admin; the messages
move to the `ghost` user; memberships, sessions and streams end."""

from __future__ import annotations

import uuid

import pytest

from tests.support.checks import WAIT, assert_error, is_chat
from tests.support.server import ChatClient


@pytest.fixture(scope="module")
def ghost_id(live_server):
    with ChatClient(live_server).register() as client:
        found = client.get("/users", params={"name": "ghost"}).json()
    assert len(found) == 1 and found[0]["name"] == "ghost"
    return found[0]["id"]


def test_self_deletion_moves_messages_to_ghost(api, ghost_id):
    """DELETE /users/{me} → 204; the user's messages (public room and direct room) now
    name the ghost user; the partner keeps the direct room and its whole history."""
    leaver, partner = api(), api()
    room = partner.create_room()
    leaver.join(room["id"])
    direct = partner.put(f"/users/{leaver.id}/direct").json()
    with partner.subscribe() as stream:
        stream.wait_ready(WAIT)
        in_room = leaver.post_message(room["id"], "bye all")
        in_direct = leaver.post_message(direct["id"], "bye you")
        answer = partner.post_message(direct["id"], "farewell")
        stream.events_until(is_chat(answer["id"]), timeout=WAIT)
        response = leaver.delete(f"/users/{leaver.id}")
        assert response.status_code == 204, response.text
        # The partner hears that the deleted user's memberships ended.
        stream.events_until(lambda e: e.event == "membership" and e.json() == {
            "room": direct["id"], "user": leaver.id, "action": "left"}, timeout=WAIT)
    history = partner.history(direct["id"])
    assert [m["id"] for m in history] == [in_direct["id"], answer["id"]]
    assert history[0]["user"] == ghost_id and history[0]["message"] == "bye you"
    assert history[1]["user"] == partner.id
    got = partner.get(f"/rooms/{room['id']}/messages/{in_room['id']}").json()
    assert got["user"] == ghost_id and got["message"] == "bye all"
    assert direct["id"] in {r["id"] for r in partner.rooms()}
    assert direct["id"] in {r["id"] for r in partner.get(f"/users/{partner.id}/rooms").json()}
    assert {u["id"] for u in partner.get(f"/rooms/{room['id']}/users").json()} == {partner.id}
    assert_error(partner.get(f"/users/{leaver.id}"), 404, "not_found")
    assert partner.get("/users", params={"name": leaver.user["name"]}).json() == []
    assert_error(partner.put(f"/users/{leaver.id}/direct"), 404, "not_found")


def test_deletion_ends_sessions_and_streams(api, live_server):
    """Every session of the deleted user answers 401 and their open streams are closed
    by the server; signing in is no longer possible (401 invalid_credentials)."""
    user = api()
    other_session = ChatClient(live_server)
    other_session.login(user.user["name"])
    with user.subscribe() as stream, other_session.subscribe() as other_stream:
        stream.wait_ready(WAIT)
        other_stream.wait_ready(WAIT)
        assert user.delete(f"/users/{user.id}").status_code == 204
        assert stream.wait_closed(WAIT) and stream.closed_by_server
        assert other_stream.wait_closed(WAIT) and other_stream.closed_by_server
    for client in (user, other_session):
        assert_error(client.get("/users/me"), 401, "unauthenticated")
        assert_error(client.get("/rooms"), 401, "unauthenticated")
    assert_error(user.post("/sessions", json={"name": user.user["name"],
                                              "password": "password123"}),
                 401, "invalid_credentials")
    other_session.close()


def test_admin_deletes_another_user(api, admin, ghost_id):
    """An admin may delete someone else (204), with the same effects."""
    victim, witness = api(), api()
    room = witness.create_room()
    victim.join(room["id"])
    with witness.subscribe() as stream:
        stream.wait_ready(WAIT)
        message = victim.post_message(room["id"], "soon gone")
        stream.events_until(is_chat(message["id"]), timeout=WAIT)
        with victim.subscribe() as victim_stream:
            victim_stream.wait_ready(WAIT)
            assert admin.delete(f"/users/{victim.id}").status_code == 204
            assert victim_stream.wait_closed(WAIT)
    assert_error(victim.get("/users/me"), 401, "unauthenticated")
    assert witness.history(room["id"])[-1]["user"] == ghost_id
    assert_error(admin.delete(f"/users/{victim.id}"), 404, "not_found")
    assert_error(admin.delete(f"/users/{uuid.uuid4()}"), 404, "not_found")


def test_only_self_or_admin_may_delete(api, anon):
    """A non-admin deleting someone else is 403 forbidden and nothing happens;
    anonymous is 401; a malformed id is 400."""
    user, target = api(), api()
    assert_error(user.delete(f"/users/{target.id}"), 403, "forbidden")
    assert target.get("/users/me").status_code == 200
    assert_error(anon.delete(f"/users/{target.id}"), 401, "unauthenticated")
    assert_error(user.delete("/users/not-a-uuid"), 400, "validation_error")
    assert user.get(f"/users/{target.id}").status_code == 200


def test_owned_room_survives_its_owner(api):
    """A room whose owner deletes their account lives on for its other members, with no
    owner any more (owner null)."""
    owner, member = api(), api()
    room = owner.create_room()
    member.join(room["id"])
    assert owner.delete(f"/users/{owner.id}").status_code == 204
    after = member.get(f"/rooms/{room['id']}").json()
    assert after["id"] == room["id"] and after["owner"] is None
    member.post_message(room["id"], "still here")


def test_room_of_a_sole_member_is_deactivated(api):
    """A room whose last member deletes their account is deactivated (404)."""
    owner, other = api(), api()
    room = owner.create_room()
    assert owner.delete(f"/users/{owner.id}").status_code == 204
    assert_error(other.get(f"/rooms/{room['id']}"), 404, "not_found")
    assert room["id"] not in {r["id"] for r in other.rooms()}


def test_system_users_cannot_be_deleted(api, admin, ghost_id):
    """System users cannot be deleted, not even by an admin (409 conflict): `ghost` holds
    the messages of deleted accounts, so account deletion keeps working afterwards."""
    assert_error(admin.delete(f"/users/{ghost_id}"), 409, "conflict")
    assert admin.get(f"/users/{ghost_id}").json()["name"] == "ghost"
    user = api()
    assert user.delete(f"/users/{user.id}").status_code == 204
