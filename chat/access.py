"""Who may see and do what with a room. Every room endpoint goes through these, so the
rules of API.md ("visibility comes first") live in one place."""

from typing import NamedTuple

from flask import current_app, g
from sqlalchemy import and_, bindparam, select

from chat.realtime.access_memory import RoomRef
from chat.errors import APIError, forbidden, not_found
from chat.extensions import db
from chat.models import Ban, Invitation, Membership, Room, User, utcnow


def membership(room_id, user_id):
    return db.session.get(Membership, (room_id, user_id))


def active_room_ban(room_id, user_id):
    ban = db.session.scalar(select(Ban).where(Ban.room_id == room_id, Ban.user_id == user_id))
    return ban if ban is not None and ban.is_active(utcnow()) else None


def live_room(room_id):
    room = db.session.get(Room, room_id)
    if room is None or not room.active:
        raise not_found("No such room")
    return room


class Standing(NamedTuple):
    """A live room and one user's place in it."""

    room: Room
    member: bool
    invited: bool
    banned: bool


_user = bindparam("user_id")
# Built once: constructing it cost more CPU than running it.
_STANDING = (
    select(Room, Membership.user_id, Invitation.id, Ban)
    .outerjoin(Membership, and_(Membership.room_id == Room.id, Membership.user_id == _user))
    .outerjoin(Invitation, and_(Invitation.room_id == Room.id, Invitation.user_id == _user))
    .outerjoin(Ban, and_(Ban.room_id == Room.id, Ban.user_id == _user))
    .where(Room.id == bindparam("room_id")))


def standing(room_id, user_id):
    """The live room with the user's membership, invitation and ban, in one query (every
    room request needs them; three lookups made posting measurably slower). 404 when
    there is no live room. A membership it finds is remembered for the hot routes
    (member_room): opening a room's history warms them."""
    memory = current_app.extensions["realtime"].access
    epoch = memory.epoch  # before the read: a kick during it must win
    row = db.session.execute(_STANDING, {"room_id": room_id, "user_id": user_id}).first()
    if row is None or not row.Room.active:
        raise not_found("No such room")
    room, member, invitation, ban = row
    place = Standing(room, member is not None, invitation is not None,
                     ban is not None and ban.is_active(utcnow()))
    if place.member and not place.banned:
        memory.keep_member(room, user_id, epoch)
    return place


def _require_visible(place):
    """Public rooms are visible to all; private rooms to members and invitees; direct
    rooms to their two members. Visibility comes first, then the ban."""
    kind = place.room.kind
    if not (kind == "public" or place.member or (kind == "private" and place.invited)):
        raise not_found("No such room")
    if place.banned:
        raise forbidden("You are banned from this room", code="banned")


def visible_room(room_id, user=None):
    """The live room if the caller may see it (404 otherwise), refusing room-banned users."""
    place = standing(room_id, (user or g.user).id)
    _require_visible(place)
    return place.room


def member_room(room_id):
    """A room the caller may post in: visible, not banned, a member. A RoomRef (id, kind,
    owner), answered from memory when this membership was checked recently and nothing
    changed it since (chat/realtime/access_memory.py)."""
    known = current_app.extensions["realtime"].access.member_room(room_id, g.user.id)
    if known is not None:
        return known
    place = standing(room_id, g.user.id)  # remembers the membership it finds
    _require_visible(place)
    if not place.member:
        raise forbidden("You are not a member of this room", code="not_member")
    return RoomRef.of(place.room)


def readable_room(room_id):
    """A room whose messages the caller may read: any public room they are not banned
    from, otherwise members only (404 for others, as for every hidden room)."""
    place = standing(room_id, g.user.id)
    _require_visible(place)
    if place.room.kind != "public" and not place.member:
        raise not_found("No such room")
    return place.room


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
