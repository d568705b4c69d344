"""Who may see and do what with a room. Every room endpoint goes through these, so the
rules of API.md ("visibility comes first") live in one place."""

from flask import g
from sqlalchemy import select

from chat.errors import APIError, forbidden, not_found
from chat.extensions import db
from chat.models import Ban, Invitation, Membership, Room, User, utcnow


def membership(room_id, user_id):
    return db.session.get(Membership, (room_id, user_id))


def pending_invitation(room_id, user_id):
    return db.session.scalar(select(Invitation).where(
        Invitation.room_id == room_id, Invitation.user_id == user_id))


def active_room_ban(room_id, user_id):
    ban = db.session.scalar(select(Ban).where(Ban.room_id == room_id, Ban.user_id == user_id))
    return ban if ban is not None and ban.is_active(utcnow()) else None


def live_room(room_id):
    room = db.session.get(Room, room_id)
    if room is None or not room.active:
        raise not_found("No such room")
    return room


def can_see(room, user):
    """Public rooms are visible to all; private rooms to members and invitees; direct
    rooms to their two members."""
    if room.kind == "public" or membership(room.id, user.id) is not None:
        return True
    return room.kind == "private" and pending_invitation(room.id, user.id) is not None


def visible_room(room_id, user=None):
    """The live room if the caller may see it (404 otherwise), refusing room-banned users."""
    user = user or g.user
    room = live_room(room_id)
    if not can_see(room, user):
        raise not_found("No such room")
    if active_room_ban(room.id, user.id) is not None:
        raise forbidden("You are banned from this room", code="banned")
    return room


def member_room(room_id):
    """A room the caller may read and post in: visible, not banned, a member."""
    room = visible_room(room_id)
    if membership(room.id, g.user.id) is None:
        raise forbidden("You are not a member of this room", code="not_member")
    return room


def moderated_room(room_id):
    """A room the caller may moderate (owner or admin). Admins moderate any live room,
    even one they cannot read; for others the room must first be visible, and a
    room-banned owner gets 403 banned like on every other endpoint of the room."""
    user = g.user
    if user.is_admin:
        return live_room(room_id)
    room = visible_room(room_id, user)
    if room.owner_id != user.id:
        raise forbidden("Only the room's owner or an admin may do this")
    return room


def existing_user(user_id, message="No such user"):
    user = db.session.get(User, user_id)
    if user is None:
        raise not_found(message)
    return user


def require_admin():
    if not g.user.is_admin:
        raise forbidden("Only an admin may do this")


def require_self(user_id):
    if user_id != g.user.id:
        raise APIError(403, "forbidden", "You may only do this for your own account")
