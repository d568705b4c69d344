"""Room life cycle and membership changes. Each change of who is in a room takes its
place in the message order as it commits (chat/realtime/order.py), so every host applies it
exactly between the same two messages."""

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from chat.errors import conflict
from chat.extensions import db
from chat.models import GENERAL_ROOM, Invitation, Membership, Room, User
from chat.realtime import publish
from chat.realtime.order import commit_changes


def general_room():
    return db.session.scalar(select(Room).where(
        Room.name_key == GENERAL_ROOM, Room.active, Room.kind == "public"))


def create_room(name, kind, owner):
    room = Room(id=uuid.uuid4(), name=name, kind=kind, owner_id=owner.id)
    db.session.add(room)
    try:
        db.session.flush()  # the room row first: memberships reference it
        db.session.add(Membership(room_id=room.id, user_id=owner.id))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise conflict("A room with this name already exists", code="name_taken") from None
    commit_changes([("membership", room.id, owner.id, "joined")])
    if kind == "public":
        publish("room", room=str(room.id), action="created", info=room.to_dict())
    return room


def join(room, user_id):
    """Adds a member (accepting any pending invitation); 409 if already in."""
    db.session.add(Membership(room_id=room.id, user_id=user_id))
    try:
        db.session.flush()  # a concurrent join of the same user loses here: 409, not 500
    except IntegrityError:
        db.session.rollback()
        raise conflict("Already a member of this room") from None
    db.session.execute(delete(Invitation).where(
        Invitation.room_id == room.id, Invitation.user_id == user_id))
    commit_changes([("membership", room.id, user_id, "joined")])


def remove_member(room, user_id, action):
    """Leave, kick or ban: the membership goes; a room left empty is deactivated.
    Returns False when the user was not a member."""
    removed = db.session.execute(delete(Membership).where(
        Membership.room_id == room.id, Membership.user_id == user_id)).rowcount
    if not removed:
        db.session.commit()
        return False
    if room.kind != "direct" and not _has_members(room.id):
        room.active = False
    commit_changes([("membership", room.id, user_id, action)])
    return True


def delete_room(room):
    """Deactivates the room: it answers 404 from now on, its data stays."""
    room.active = False
    removed = db.session.scalars(delete(Membership).where(Membership.room_id == room.id)
                                 .returning(Membership.user_id)).all()
    db.session.execute(delete(Invitation).where(Invitation.room_id == room.id))
    commit_changes([("room", room.id, user_id, "deleted") for user_id in sorted(removed)])


def _has_members(room_id):
    return db.session.scalar(
        select(Membership.user_id).where(Membership.room_id == room_id).limit(1)) is not None


def direct_key(a, b):
    low, high = sorted([str(a), str(b)])
    return f"{low}:{high}"


def get_or_create_direct(caller, other):
    """The one direct room of the pair: (room, created)."""
    key = direct_key(caller.id, other.id)
    room = db.session.scalar(select(Room).where(Room.direct_key == key))
    if room is not None and room.active:
        return room, False
    if room is not None:  # deleted by an admin: its data stays, the pair gets a new room
        room.direct_key = None
        db.session.flush()
    room = Room(id=uuid.uuid4(), name=f"{caller.name}, {other.name}", kind="direct",
                owner_id=None, direct_key=key)
    db.session.add(room)
    try:
        db.session.flush()
        db.session.add_all([Membership(room_id=room.id, user_id=caller.id),
                            Membership(room_id=room.id, user_id=other.id)])
        db.session.flush()
    except IntegrityError:  # the other side asked at the same moment
        db.session.rollback()
        return db.session.scalar(select(Room).where(Room.direct_key == key)), False
    commit_changes([("membership", room.id, user.id, "joined") for user in (caller, other)])
    return room, True


def members(room_id):
    return db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id).order_by(User.name)).all()
