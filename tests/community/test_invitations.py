"""Invitations (API.md "Rooms and membership", "Objects", "The event stream"): any member
invites, the invitee alone accepts or declines, and hears of it on the stream."""

from __future__ import annotations

import re
import uuid

from tests.support.checks import WAIT, assert_error

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def invite(inviter, room_id, user_id):
    response = inviter.post(f"/rooms/{room_id}/invitations", json={"user": user_id})
    assert response.status_code == 201, response.text
    return response.json()


def test_any_member_may_invite_and_gets_an_invitation_object(api):
    """201 with exactly {id, room, user, invited_by, created_at}; a plain member (not only
    the owner) may invite, into private and public rooms alike."""
    owner, member, invitee, other = api(), api(), api(), api()
    room = owner.create_room(kind="private")
    invite(owner, room["id"], member.id)
    member.join(room["id"])
    invitation = invite(member, room["id"], invitee.id)
    assert set(invitation) == {"id", "room", "user", "invited_by", "created_at"}
    uuid.UUID(invitation["id"])
    assert invitation["room"] == room["id"]
    assert invitation["user"] == invitee.id
    assert invitation["invited_by"] == member.id
    assert RFC3339_Z.match(invitation["created_at"])
    public = owner.create_room()
    other.join(public["id"])
    assert invite(other, public["id"], invitee.id)["invited_by"] == other.id


def test_invitee_lists_pending_invitations_and_hears_of_them(api):
    """The invitee finds it in GET /users/me/invitations and gets an `invitation` event
    (the Invitation object, no id: line); the inviter's list is unaffected."""
    owner, invitee = api(), api()
    room = owner.create_room(kind="private")
    with invitee.subscribe() as stream:
        stream.wait_ready(WAIT)
        invitation = invite(owner, room["id"], invitee.id)
        events = stream.events_until(lambda e: e.event == "invitation", timeout=WAIT)
    event = events[-1]
    assert event.json() == invitation
    assert event.has_id_field is False
    assert not [e for e in events if e.event == "message"]
    assert invitee.get("/users/me/invitations").json() == [invitation]
    assert owner.get("/users/me/invitations").json() == []


def test_invitation_refusals(api):
    """409 when the user is already a member or already invited; 404 for an unknown
    user; a non-member of a private room is 404 (cannot see it); of a public room 403
    not_member; bad bodies 400."""
    owner, member, invitee, outsider = api(), api(), api(), api()
    room = owner.create_room(kind="private")
    invite(owner, room["id"], member.id)
    member.join(room["id"])
    invite(owner, room["id"], invitee.id)
    path = f"/rooms/{room['id']}/invitations"
    assert_error(owner.post(path, json={"user": member.id}), 409, "conflict")
    assert_error(owner.post(path, json={"user": owner.id}), 409, "conflict")
    assert_error(member.post(path, json={"user": invitee.id}), 409, "conflict")
    assert_error(owner.post(path, json={"user": str(uuid.uuid4())}), 404, "not_found")
    assert_error(outsider.post(path, json={"user": outsider.id}), 404, "not_found")
    # The invitee is not a member yet: cannot invite others.
    assert_error(invitee.post(path, json={"user": outsider.id}), 403, "not_member")
    assert_error(owner.post(path, json={}), 400, "validation_error")
    assert_error(owner.post(path, json={"user": "nobody"}), 400, "validation_error")
    assert_error(owner.post(path, data="user", headers={"Content-Type": "text/plain"}),
                 400, "invalid_json")
    public = owner.create_room()
    assert_error(outsider.post(f"/rooms/{public['id']}/invitations",
                               json={"user": invitee.id}), 403, "not_member")
    # Nothing was created by the refusals.
    assert outsider.get("/users/me/invitations").json() == []
    assert len(invitee.get("/users/me/invitations").json()) == 1


def test_accepting_makes_the_invitee_a_member(api):
    """POST /invitations/{id}/accept → 204; the invitee is a member (reads, posts, gets
    the room's messages) and the invitation is gone from the list."""
    owner, invitee = api(), api()
    room = owner.create_room(kind="private")
    invitation = invite(owner, room["id"], invitee.id)
    with invitee.subscribe() as stream:
        stream.wait_ready(WAIT)
        response = invitee.post(f"/invitations/{invitation['id']}/accept")
        assert response.status_code == 204, response.text
        stream.events_until(lambda e: e.event == "membership" and e.json() == {
            "room": room["id"], "user": invitee.id, "action": "joined"}, timeout=WAIT)
        message = owner.post_message(room["id"], "welcome aboard")
        stream.events_until(lambda e: e.event == "message" and e.json()["id"] == message["id"],
                            timeout=WAIT)
    assert invitee.get("/users/me/invitations").json() == []
    members = owner.get(f"/rooms/{room['id']}/users").json()
    assert invitee.id in {u["id"] for u in members}
    assert message["id"] in {m["id"] for m in invitee.history(room["id"])}
    # Accepting again: the invitation no longer exists.
    assert_error(invitee.post(f"/invitations/{invitation['id']}/accept"), 404, "not_found")


def test_declining_removes_the_invitation(api):
    """POST /invitations/{id}/decline → 204; the invitation is gone, the user is not a
    member and, for a private room, can no longer see it."""
    owner, invitee = api(), api()
    room = owner.create_room(kind="private")
    invitation = invite(owner, room["id"], invitee.id)
    assert invitee.get(f"/rooms/{room['id']}").status_code == 200
    response = invitee.post(f"/invitations/{invitation['id']}/decline")
    assert response.status_code == 204, response.text
    assert invitee.get("/users/me/invitations").json() == []
    assert_error(invitee.get(f"/rooms/{room['id']}"), 404, "not_found")
    assert_error(invitee.post(f"/rooms/{room['id']}/users", json={"chat_user": invitee.id}),
                 404, "not_found")
    assert_error(invitee.post(f"/invitations/{invitation['id']}/accept"), 404, "not_found")
    assert_error(invitee.post(f"/invitations/{invitation['id']}/decline"), 404, "not_found")
    # Declined, the user may be invited again.
    invite(owner, room["id"], invitee.id)


def test_only_the_invitee_may_answer(api):
    """Someone else accepting or declining (even the inviter) is 403 and changes nothing;
    an unknown invitation is 404; a malformed id 400."""
    owner, invitee, stranger = api(), api(), api()
    room = owner.create_room(kind="private")
    invitation = invite(owner, room["id"], invitee.id)
    for client in (stranger, owner):
        assert_error(client.post(f"/invitations/{invitation['id']}/accept"), 403, "forbidden")
        assert_error(client.post(f"/invitations/{invitation['id']}/decline"), 403, "forbidden")
    assert_error(stranger.get(f"/rooms/{room['id']}"), 404, "not_found")
    assert invitee.get("/users/me/invitations").json() == [invitation]
    for action in ("accept", "decline"):
        assert_error(invitee.post(f"/invitations/{uuid.uuid4()}/{action}"), 404, "not_found")
        assert_error(invitee.post(f"/invitations/not-a-uuid/{action}"), 400, "validation_error")


def test_invitations_need_a_signed_in_caller(anon, api):
    """The invitation endpoints answer 401 unauthenticated without credentials."""
    owner, invitee = api(), api()
    room = owner.create_room(kind="private")
    invitation = invite(owner, room["id"], invitee.id)
    assert_error(anon.get("/users/me/invitations"), 401, "unauthenticated")
    assert_error(anon.post(f"/invitations/{invitation['id']}/accept"), 401, "unauthenticated")
    assert_error(anon.post(f"/rooms/{room['id']}/invitations", json={"user": invitee.id}),
                 401, "unauthenticated")


def test_invitations_to_a_deleted_room_vanish(api):
    """When the room is deleted its pending invitations leave the invitee's list and can
    no longer be accepted (the room answers 404 everywhere)."""
    owner, invitee = api(), api()
    room = owner.create_room(kind="private")
    invitation = invite(owner, room["id"], invitee.id)
    assert owner.delete(f"/rooms/{room['id']}").status_code == 204
    assert invitee.get("/users/me/invitations").json() == []
    assert_error(invitee.post(f"/invitations/{invitation['id']}/accept"), 404, "not_found")
    assert_error(invitee.get(f"/rooms/{room['id']}"), 404, "not_found")
