"""The hot routes (post, typing, reactions, read markers, the stream) answer "whose session is this"
and "is this a member" from memory (chat/realtime/access_memory.py). Every change of either answer
must take effect at once: each test first warms the memory with successful calls, then
changes the answer through the API and expects the very next call to be refused."""

from __future__ import annotations

import pytest

from tests.support.checks import assert_error


@pytest.fixture
def warm(api):
    """(owner, member, room): the member has posted, typed and marked read, so their
    session and membership are remembered."""
    owner, member = api(), api()
    room = owner.create_room()
    assert member.join(room["id"]).status_code in (200, 201, 204)
    for _ in range(3):
        message = member.post_message(room["id"], "warming up")
        assert member.post(f"/rooms/{room['id']}/typing").status_code == 204
    assert member.put(f"/rooms/{room['id']}/read",
                      json={"message": message["id"]}).status_code == 204
    return owner, member, room, message


def _post(client, room_id):
    return client.post(f"/rooms/{room_id}/messages", json={"message": "still here?"})


def _refused_everywhere(client, room_id, message_id, status, code):
    assert_error(_post(client, room_id), status, code)
    if status == 401:  # a stream is the caller's own, whatever their rooms
        with client.get(f"/users/{client.id}/subscribe", stream=True) as response:
            assert_error(response, status, code)
    assert_error(client.post(f"/rooms/{room_id}/typing"), status, code)
    assert_error(client.put(f"/rooms/{room_id}/messages/{message_id}/reactions/👍"),
                 status, code)
    assert_error(client.put(f"/rooms/{room_id}/read", json={"message": message_id}),
                 status, code)


def test_sign_out_ends_a_remembered_session_at_once(warm):
    _, member, room, message = warm
    token = member.token
    member.logout()
    member.token = token  # keep using the signed-out token
    member.session.headers["Authorization"] = f"Bearer {token}"
    _refused_everywhere(member, room["id"], message["id"], 401, "unauthenticated")


def test_an_account_ban_ends_remembered_sessions_at_once(warm, admin):
    _, member, room, message = warm
    response = admin.post(f"/users/{member.id}/ban", json={"reason": "spam"})
    assert response.status_code in (200, 201), response.text
    _refused_everywhere(member, room["id"], message["id"], 401, "unauthenticated")


@pytest.mark.parametrize("how", ["leave", "kick", "ban"])
def test_leaving_kicks_and_bans_end_a_remembered_membership_at_once(warm, how):
    owner, member, room, message = warm
    if how == "leave":
        response = member.leave(room["id"])
    elif how == "kick":
        response = owner.delete(f"/rooms/{room['id']}/users/{member.id}")
    else:
        response = owner.post(f"/rooms/{room['id']}/bans",
                              json={"user": member.id, "reason": "spam"})
    assert response.status_code in (201, 204), response.text
    if how == "ban":
        # A banned user is told so; the room stays visible (it is public).
        _refused_everywhere(member, room["id"], message["id"], 403, "banned")
    else:
        _refused_everywhere(member, room["id"], message["id"], 403, "not_member")
    # And a rejoin (not after the ban) is remembered again from the database.
    if how != "ban":
        assert member.join(room["id"]).status_code in (200, 201, 204)
        assert _post(member, room["id"]).status_code == 202


def test_a_remembered_session_opens_its_stream_without_asking_the_database(
        warm, database_url):
    """Like a post: only what events announce (a sign-out, a ban) refuses it at once; an
    expiry moved by hand in the database counts after CHAT_ACCESS_MEMORY_SECONDS."""
    from tests.community.test_authorization_matrix import expire_session

    _, member, room, _ = warm
    expire_session(database_url, member.token)
    assert_error(member.get("/rooms"), 401, "unauthenticated")  # not a hot route
    with member.subscribe() as stream:
        assert stream.wait_ready(10).json()["rooms"]


def test_a_deleted_room_refuses_remembered_members_at_once(warm, admin):
    owner, member, room, message = warm
    assert owner.delete(f"/rooms/{room['id']}").status_code == 204
    _refused_everywhere(member, room["id"], message["id"], 404, "not_found")


def test_a_deleted_account_is_refused_at_once(warm):
    _, member, room, message = warm
    token = member.token
    assert member.delete(f"/users/{member.id}").status_code == 204
    member.session.headers["Authorization"] = f"Bearer {token}"
    _refused_everywhere(member, room["id"], message["id"], 401, "unauthenticated")


def test_what_the_page_reads_first_is_remembered_and_forgotten_the_same_way(api):
    """A room's history remembers the membership it checked; a kick still takes effect
    at once, and so does a sign-out."""
    owner, member = api(), api()
    room = owner.create_room()
    member.join(room["id"])
    assert member.get("/rooms").status_code == 200
    assert member.get(f"/rooms/{room['id']}/messages").status_code == 200
    assert owner.delete(f"/rooms/{room['id']}/users/{member.id}").status_code == 204
    assert_error(_post(member, room["id"]), 403, "not_member")
    token = member.token
    member.logout()
    member.session.headers["Authorization"] = f"Bearer {token}"
    assert_error(member.post(f"/rooms/{room['id']}/typing"), 401, "unauthenticated")


def test_a_stream_remembers_its_rooms_and_a_kick_still_takes_effect_at_once(api):
    owner, member = api(), api()
    room = owner.create_room()
    member.join(room["id"])
    with member.subscribe() as stream:  # remembers the member's rooms
        stream.wait_ready(10)
        assert owner.delete(f"/rooms/{room['id']}/users/{member.id}").status_code == 204
        assert_error(_post(member, room["id"]), 403, "not_member")
        assert_error(member.post(f"/rooms/{room['id']}/typing"), 403, "not_member")
