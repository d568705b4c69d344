"""The ordered log: every message and every change of who receives a room's messages
takes one place in a single sequence (the `message_seq` counter), so that every worker of
every host applies them in the same order.

What takes a place:
  message     a stored chat message                       (table `messages`)
  membership  one user joined, left, was kicked or banned (table `room_events`)
  room        one member removed by the room's deletion   (table `room_events`)
  edit        a message's new text                        (table `room_events`)
  delete      a message's deletion                        (table `room_events`)
  reaction    an emoji added to or removed from a message (table `room_events`)

Allocating a place increments the counter row inside the writer's transaction; the row
stays locked until the commit, so places become visible in order: once place N is
committed, every place below N is committed too. Readers (history, resume, the ordered
feed filling a gap) therefore never skip an entry that commits late.

A log entry (what the bus carries and the hub applies) is a dict with "kind" and "seq":
a message's fields for messages, {room, user, action} for the others, plus "message_id"
for message changes, "emoji" for reactions and "message" (the Message as edited) for
edits.
"""

import uuid
from typing import Any, Callable, NamedTuple

from flask import current_app
from sqlalchemy import bindparam, func, literal_column, or_, select, true, update

from chat.extensions import db
from chat.message_view import serialize
from chat.models import MESSAGE_SEQ, Counter, Membership, Message, Room, RoomEvent, utcnow

REMOVALS = frozenset({"left", "kicked", "banned", "deleted"})
# Entries that change who is in a room (the others change what a room's members see).
MEMBERSHIP_KINDS = frozenset({"membership", "room"})
MESSAGE_CHANGES = frozenset({"edit", "delete", "reaction"})


class Change(NamedTuple):
    """One entry for `commit_changes`. `message` is the message id of a message change;
    `shown` the edited Message for an edit's live entry; `placed(seq)` is called with
    the change's place before the commit (a reaction row records it)."""

    kind: str
    room: Any
    user: Any
    action: str
    message: Any = None
    emoji: str | None = None
    shown: dict | None = None
    placed: Callable[[int], None] | None = None


# Built once: every batch and every change runs it, and building it cost more CPU than
# SQLAlchemy's compiled-statement cache saves.
_TAKE_PLACES = (update(Counter).where(Counter.name == MESSAGE_SEQ)
                .values(value=Counter.value + bindparam("count")).returning(Counter.value))


def allocate(connection, count):
    """Takes `count` consecutive places; returns the first. Locks the counter row until
    the caller's transaction ends: call it last, just before committing."""
    last = connection.execute(_TAKE_PLACES, {"count": count}).scalar_one()
    return last - count + 1


def last_room_ordinal(room_id):
    """The ordinal of the newest message of the room `room_id` (a column or a value) as a
    scalar subquery: NULL for a room with no messages. Ordinals count a room's messages
    1, 2, 3, ... in seq order (Message.room_ordinal), so this is also how many there are."""
    return (select(Message.room_ordinal).where(Message.room_id == room_id)
            .order_by(Message.seq.desc()).limit(1).scalar_subquery())


def number_in_rooms(connection, rows):
    """Gives each message row (dicts with room_id, in seq order) its `room_ordinal`,
    after the newest stored one of its room. Call it after `allocate`: the counter row's
    lock keeps any other writer from numbering the same room meanwhile. (PostgreSQL
    numbers in SQL instead: chat/realtime/batch_store.py.)"""
    room_ids = {row["room_id"] for row in rows}
    newest = dict(connection.execute(
        select(Room.id, last_room_ordinal(Room.id)).where(Room.id.in_(room_ids))).all())
    for row in rows:
        newest[row["room_id"]] = row["room_ordinal"] = (newest.get(row["room_id"]) or 0) + 1


def committed_seq(session):
    return session.scalar(select(Counter.value).where(Counter.name == MESSAGE_SEQ)) or 0


def commit_changes(changes):
    """Commits the request's transaction together with `changes` (Change, or (kind,
    room id, user id, action) tuples), each given the next place in the order, then
    publishes them."""
    if not changes:
        db.session.commit()
        return
    changes = [Change(*change) for change in changes]
    first = allocate(db.session, len(changes))
    now = utcnow()
    rows, entries = [], []
    for seq, change in enumerate(changes, start=first):
        row = RoomEvent(seq=seq, room_id=change.room, user_id=change.user, kind=change.kind,
                        action=change.action, message_id=change.message, emoji=change.emoji,
                        created_at=now)
        if change.placed is not None:
            change.placed(seq)
        rows.append(row)
        entry = row.to_entry()
        if change.shown is not None:
            entry["message"] = change.shown
        entries.append(entry)
    db.session.add_all(rows)
    db.session.commit()
    current_app.extensions["realtime"].publish(
        log_event(entries, first, first + len(entries) - 1))


def log_event(entries, first, last):
    """The bus event for places first..last (entries holds those that exist: a place
    whose write was skipped, a duplicate message id, leaves a hole)."""
    return {"type": "log", "from": first, "through": last, "entries": entries}


def message_entries(session, messages):
    """Stored Message rows as log entries."""
    return [{**shown, "kind": "message", "seq": message.seq}
            for message, shown in zip(messages, serialize(session, messages))]


def read_range(session, first, last, rooms=None):
    """Every entry with first <= seq <= last (of `rooms` only, if given), in seq order.
    Deleted messages are left out (their deletion's entry still comes), and an edit
    shows the message as it is now: replaying it leaves the latest text."""
    messages = select(Message).where(Message.seq >= first, Message.seq <= last,
                                     Message.deleted_at.is_(None))
    changes = select(RoomEvent).where(RoomEvent.seq >= first, RoomEvent.seq <= last)
    if rooms is not None:
        messages = messages.where(Message.room_id.in_(rooms))
        changes = changes.where(RoomEvent.room_id.in_(rooms))
    entries = message_entries(session, session.scalars(messages).all())
    changes = session.scalars(changes).all()
    edited_ids = {c.message_id for c in changes if c.kind == "edit"}
    edited = {}
    if edited_ids:
        rows = session.scalars(select(Message).where(
            Message.id.in_(edited_ids), Message.deleted_at.is_(None))).all()
        edited = {shown["id"]: shown for shown in serialize(session, rows)}
    for change in changes:
        entry = change.to_entry()
        if change.kind == "edit":
            if entry["message_id"] not in edited:
                continue  # deleted since: its deletion follows
            entry["message"] = edited[entry["message_id"]]
        entries.append(entry)
    entries.sort(key=lambda entry: entry["seq"])
    return entries


def small_rooms(session, room_ids, limit):
    """The direct rooms among `room_ids`, and those of at most `limit` members."""
    members = (select(func.count(Membership.user_id)).where(Membership.room_id == Room.id)
               .correlate(Room).scalar_subquery())
    return set(session.scalars(select(Room.id).where(
        Room.id.in_(room_ids), or_(Room.kind == "direct", members <= limit))))


_user = bindparam("user_id")
# Built once: constructing them cost more CPU than running them, on every stream open.
_ROOMS_NOW = (select(Room.id, Room.kind, Room.owner_id)
              .join(Membership, Membership.room_id == Room.id)
              .where(Membership.user_id == _user, Room.active).subquery("rooms_now"))
# One row even for a user in no room: the place, then one room per row (or NULLs).
_COMMITTED_AND_ROOMS = (
    select(select(Counter.value).where(Counter.name == MESSAGE_SEQ)
           .scalar_subquery().label("committed"),
           _ROOMS_NOW.c.id, _ROOMS_NOW.c.kind, _ROOMS_NOW.c.owner_id)
    .select_from(select(literal_column("1").label("one")).subquery("one")
                 .outerjoin(_ROOMS_NOW, true())))
_CHANGES_SINCE = (select(RoomEvent.seq, RoomEvent.room_id, RoomEvent.action)
                  .where(RoomEvent.user_id == _user, RoomEvent.seq > bindparam("since"),
                         RoomEvent.kind.in_(MEMBERSHIP_KINDS))
                  .order_by(RoomEvent.seq))


def committed_and_rooms(connection, user_id):
    """(the committed place, the live rooms the user is in at exactly that place: rows
    with id, kind and owner_id), in one statement: one snapshot, so the rooms reflect no
    membership change after that place."""
    rows = connection.execute(_COMMITTED_AND_ROOMS, {"user_id": user_id}).all()
    return rows[0].committed or 0, [row for row in rows if row.id is not None]


def membership_changes(connection, user_id, since):
    """(seq, room id, action) of the user's membership changes after `since`, in order."""
    return connection.execute(_CHANGES_SINCE, {"user_id": user_id, "since": since}).all()


class MembershipView:
    """A user's rooms at any place from `since` on, reconstructed from the rooms they
    are in now (`current_rooms`: rows with id, kind and owner_id) and their membership
    changes after `since`.

    Read `since` (a committed seq) no later than the current rooms, and the changes no
    earlier than the rooms: then every change the current rooms reflect is in the list,
    and a room's state at place P is the state before its first change after P (or its
    current state when it has none)."""

    def __init__(self, current_rooms, changes, since):
        self.since = since
        self.current_rooms = current_rooms
        self.current = {room.id for room in current_rooms}
        self.changes = changes

    def follow(self, changes):
        """Adds what the hub applied after `since` ((seq, room id, joined), in order)
        beyond the changes read: a replay up to the hub's place must read the rooms
        joined meanwhile too."""
        read_up_to = self.changes[-1][0] if self.changes else self.since
        self.changes = [*self.changes, *(
            (seq, uuid.UUID(room), "joined" if joined else "left")
            for seq, room, joined in changes if seq > read_up_to)]

    def rooms_at(self, place):
        assert place >= self.since, (place, self.since)
        first_change = {}
        for seq, room, action in self.changes:
            if seq > place:
                first_change.setdefault(room, action)
        return ({r for r in self.current if r not in first_change}
                | {r for r, action in first_change.items() if action in REMOVALS})

    def rooms_between(self, first, last):
        """Every room the user was in at some place in (first, last]."""
        rooms = self.rooms_at(first)
        rooms |= {room for seq, room, action in self.changes
                  if first < seq <= last and action == "joined"}
        return rooms


def replay(session, user_id, view, after, through, read=read_range):
    """What a user missed in (after, through]: the entries they were entitled to at each
    place, in order — messages and message changes of rooms they were in at that place
    (rooms left since included, up to the leave), membership changes of those rooms, and
    their own removal by a room deletion. `read` is `read_range` or a stand-in that
    answers the same (shared_reads.py)."""
    rooms_now = view.rooms_at(after)
    rooms = view.rooms_between(after, through)
    if not rooms:
        return []
    me = str(user_id)
    out = []
    for entry in read(session, after + 1, through, rooms):
        room, kind = entry["room"], entry["kind"]
        mine = kind in MEMBERSHIP_KINDS and entry["user"] == me
        if kind == "room":
            if mine:
                out.append(entry)
                rooms_now.discard(uuid.UUID(room))
            continue
        if mine and entry["action"] == "joined":
            rooms_now.add(uuid.UUID(room))
        if uuid.UUID(room) in rooms_now:
            out.append(entry)
        if mine and entry["action"] in REMOVALS:
            rooms_now.discard(uuid.UUID(room))
    return out
