"""Room life cycle and membership changes. Each change of who is in a room takes its
place in the message order as it commits (chat/realtime/order.py), so every host applies it
exactly between the same two messages."""

import uuid

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from chat.errors import conflict
from chat.extensions import db
from chat.models import GENERAL_ROOM, Invitation, Membership, Mention, Message, Room, User
from chat.realtime import publish
from chat.realtime.order import commit_changes, last_room_ordinal


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


# -- rooms as one user sees them ------------------------------------------------------


def shown_rooms(rooms, viewer_id):
    """Rooms (Room objects, or rows of ROOM_COLUMNS) as API dicts for `viewer_id`: a
    direct room also names the other person (`peer`), all of them loaded in one query."""
    direct = [room.id for room in rooms if room.kind == "direct"]
    peers = {}
    if direct:
        peers = {room_id: user for room_id, user in db.session.execute(
            select(Membership.room_id, User).join(User, User.id == Membership.user_id)
            .where(Membership.room_id.in_(direct), Membership.user_id != viewer_id))}
    shown = []
    for room in rooms:
        item = Room.to_dict(room)
        if room.kind == "direct":
            peer = peers.get(room.id)
            item["peer"] = peer.to_dict() if peer is not None else None
        shown.append(item)
    return shown


# What Room.to_dict reads: the room list selects these rather than Room objects (loading
# 200 of them cost about 1 ms more CPU at every call).
ROOM_COLUMNS = (Room.id, Room.name, Room.kind, Room.owner_id, Room.created_at)


def shown_room(room, viewer_id):
    return shown_rooms([room], viewer_id)[0]


def visible_rooms(user_id):
    """GET /rooms: the public rooms and every room the user belongs to."""
    mine = select(Membership.room_id).where(Membership.user_id == user_id)
    rooms = db.session.scalars(
        select(Room).where(Room.active, or_(Room.kind == "public", Room.id.in_(mine)))
        .order_by(Room.name_key)).all()
    return shown_rooms(rooms, user_id)


# "No read marker" as a seq before every message (seqs count up from 1, see
# chat/realtime/order.py): `seq > coalesce(marker, NO_MARKER)` bounds an index range,
# where `marker IS NULL OR seq > marker` (an OR) leaves only the room to search by, and
# every message of the room to read.
NO_MARKER = -1


def rooms_with_unread(user_id):
    """The user's rooms, each with its read marker, `unread_count` (others' live messages
    after the marker) and `mention_count` (those of them that mention the user); one
    query for every room.

    Counting the unread messages one by one cost about 0.2 µs each, 20 ms for a reader
    100,000 behind. Instead: the messages after the marker are the room's last ordinal
    less the marker's (Message.room_ordinal), and what of them is not unread — the
    reader's own, others' deleted ones — are two short index ranges (migration 0006).
    The mention count is a range of ix_mentions_user_room_seq."""
    marker = func.coalesce(Membership.last_read_seq, NO_MARKER)
    marker_ordinal = (select(Message.room_ordinal)
                      .where(Message.seq == Membership.last_read_seq).scalar_subquery())
    after_marker = (func.coalesce(last_room_ordinal(Membership.room_id), 0)
                    - func.coalesce(marker_ordinal, 0))
    own_after = (select(func.count())
                 .where(Message.user_id == user_id, Message.room_id == Membership.room_id,
                        Message.seq > marker)
                 .correlate(Membership).scalar_subquery())
    others_deleted_after = (select(func.count())
                            .where(Message.room_id == Membership.room_id,
                                   Message.deleted_at.is_not(None), Message.seq > marker,
                                   Message.user_id != user_id)
                            .correlate(Membership).scalar_subquery())
    unread = after_marker - own_after - others_deleted_after
    mentioned = (select(func.count())
                 .select_from(Mention)
                 .join(Message, Message.id == Mention.message_id)
                 .where(Mention.user_id == user_id, Mention.room_id == Membership.room_id,
                        Mention.seq > marker, Message.user_id != user_id)
                 .correlate(Membership).scalar_subquery())
    rows = db.session.execute(
        select(*ROOM_COLUMNS, Membership.last_read_id, unread.label("unread"),
               mentioned.label("mentioned"))
        .join(Membership, and_(Membership.room_id == Room.id, Membership.user_id == user_id))
        .where(Room.active).order_by(Room.name_key)).all()
    shown = shown_rooms(rows, user_id)
    return [{**item, "unread_count": row.unread, "mention_count": row.mentioned,
             "last_read": str(row.last_read_id) if row.last_read_id else None}
            for item, row in zip(shown, rows)]
