"""The stored state: accounts, sessions, rooms, memberships, messages, invitations, bans.

Conventions: ids are UUIDs; times are UTC (SQLite hands them back naive, `utc()` fixes
that); a message's `seq` is its place in the one total order of the fleet (allocated by
the processor from the `counters` row, see chat/realtime/processor.py).
"""

import unicodedata
import uuid
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from chat.extensions import db

ROOM_KINDS = ("public", "private", "direct")
GENERAL_ROOM = "general"
BOT_USER = "chatterly-bot"
GHOST_USER = "ghost"
MESSAGE_SEQ = "message_seq"


def utcnow():
    return datetime.now(timezone.utc)


def utc(value):
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def name_key(name):
    """What room names are compared by: NFKC and Unicode case folding, so `Café` typed
    two ways, or `straße` and `STRASSE`, are one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def isoformat(value):
    """RFC 3339 in UTC with a Z suffix, as API.md asks."""
    if value is None:
        return None
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(32))
    api_user: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # NULL for system users (bot, ghost): nobody can sign in as them.
    password_hash: Mapped[str | None] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("uq_users_name_lower", func.lower(name), unique=True),)

    def to_dict(self):
        return {
            "id": str(self.id),
            "name": self.name,
            "api_user": str(self.api_user) if self.api_user else None,
            "created_at": isoformat(self.created_at),
        }


class Session(db.Model):
    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # sha256 of the token: a leaked table does not leak usable tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Room(db.Model):
    __tablename__ = "rooms"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64))
    # name_key(name): case folding can lengthen a name (ß -> ss), hence the wider column.
    name_key: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16), default="public")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # A deactivated room (last member left, or deleted) keeps its data but is gone for clients.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # "<smaller user id>:<larger user id>" for direct rooms: one room per pair.
    direct_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("kind IN ('public', 'private', 'direct')", name="kind"),
        # Names are unique by name_key among live rooms; direct rooms are named after
        # their pair and never collide with chosen names.
        Index(
            "uq_rooms_live_name_key",
            name_key,
            unique=True,
            postgresql_where=text("active AND kind <> 'direct'"),
            sqlite_where=text("active AND kind <> 'direct'"),
        ),
        # GET /rooms lists every live public room.
        Index("ix_rooms_live_kind", "kind", postgresql_where=text("active"),
              sqlite_where=text("active")),
    )

    @validates("name")
    def _keep_name_key(self, _key, name):
        self.name_key = name_key(name)
        return name

    def to_dict(self):
        return {
            "id": str(self.id),
            "name": self.name,
            "kind": self.kind,
            "owner": str(self.owner_id) if self.owner_id else None,
            "created_at": isoformat(self.created_at),
        }


class Membership(db.Model):
    __tablename__ = "memberships"

    room_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Read marker: the message id as the client named it, and its seq for counting.
    last_read_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_read_seq: Mapped[int | None] = mapped_column(BigInteger)


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id"))
    # The n-th message stored in its room (1, 2, 3, ..., deleted ones included), numbered
    # in seq order by the processor: how many messages follow a read marker is then a
    # subtraction (chat/rooms.py, migration 0006).
    room_ordinal: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A message of the same room (checked when posting); it may be deleted since.
    reply_to: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A deleted message keeps its row (its id stays a valid cursor) but not its text.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # History pages and resume both walk one room (or a set of rooms) by seq. Search has
    # its own index per database, made by migration 0004 (see chat/search.py). A history
    # page returns a room's live messages by seq. `unread_count` subtracts from the
    # messages after the read marker the reader's own ones and others' deleted ones, each
    # a small range of its own index (chat/rooms.py).
    __table_args__ = (Index("ix_messages_room_seq", "room_id", "seq"),
                      Index("ix_messages_live_room_seq", "room_id", "seq", "user_id",
                            postgresql_where=text("deleted_at IS NULL"),
                            sqlite_where=text("deleted_at IS NULL")),
                      Index("ix_messages_user_room_seq", "user_id", "room_id", "seq"),
                      Index("ix_messages_deleted_room_seq", "room_id", "seq", "user_id",
                            postgresql_where=text("deleted_at IS NOT NULL"),
                            sqlite_where=text("deleted_at IS NOT NULL")))

    def to_dict(self, mentions=(), reactions=()):
        """The Message of API.md; mentions and reactions are loaded in bulk by the
        caller (chat/messages.py)."""
        return {
            "id": str(self.id),
            "user": str(self.user_id),
            "room": str(self.room_id),
            "message": self.message,
            "created_at": isoformat(self.created_at),
            "reply_to": str(self.reply_to) if self.reply_to else None,
            "edited_at": isoformat(self.edited_at),
            "mentions": list(mentions),
            "reactions": list(reactions),
        }


class Mention(db.Model):
    """A member named with @name in a message; counted for `mention_count`."""

    __tablename__ = "mentions"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    seq: Mapped[int] = mapped_column(BigInteger)  # the message's place, for counting unread
    position: Mapped[int] = mapped_column(Integer)  # `mentions` lists them in text order

    __table_args__ = (Index("ix_mentions_user_room_seq", "user_id", "room_id", "seq"),)


class Reaction(db.Model):
    """One user's emoji on one message. `seq` is the place of the reaction in the order:
    a message's emoji are listed in the order each was first used."""

    __tablename__ = "reactions"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class RoomEvent(db.Model):
    """A change that takes a place in the message order (see chat/realtime/order.py): a
    membership change of one user, one member's removal by a room deletion, or a
    message's edit, deletion or reaction. It shares the `message_seq` counter with
    messages, so every host applies messages and the changes that decide their
    recipients (or change what they show) in one order."""

    __tablename__ = "room_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    # The user the change is about (the joiner, the one who left, the kicked member) or,
    # for message changes, who made it (the editor, the deleter, the reactor).
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))  # membership | room | edit | delete | reaction
    # joined | left | kicked | banned | deleted (membership, room); edited; deleted;
    # added | removed (reaction)
    action: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # edit, delete, reaction
    emoji: Mapped[str | None] = mapped_column(String(128))  # reaction
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # Replay walks one room's events by seq, and one user's membership changes by seq.
    __table_args__ = (Index("ix_room_events_room_seq", "room_id", "seq"),
                      Index("ix_room_events_user_seq", "user_id", "seq"))

    def to_entry(self):
        entry = {"kind": self.kind, "seq": self.seq, "room": str(self.room_id),
                 "user": str(self.user_id), "action": self.action}
        if self.message_id is not None:
            entry["message_id"] = str(self.message_id)
        if self.emoji is not None:
            entry["emoji"] = self.emoji
        return entry


class Invitation(db.Model):
    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (db.UniqueConstraint("room_id", "user_id", name="uq_invitations_room_user"),)

    def to_dict(self):
        return {
            "id": str(self.id),
            "room": str(self.room_id),
            "user": str(self.user_id),
            "invited_by": str(self.invited_by) if self.invited_by else None,
            "created_at": isoformat(self.created_at),
        }


class Ban(db.Model):
    __tablename__ = "bans"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # NULL: an account ban, valid everywhere.
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    # NULL: forever. Expiry needs no job: every check compares with now.
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # One ban per user and room (account bans, room NULL, are kept single in code).
    __table_args__ = (Index("uq_bans_room_user", "room_id", "user_id", unique=True),)

    def is_active(self, now=None):
        return self.valid_until is None or utc(self.valid_until) > (now or utcnow())

    def to_dict(self):
        return {
            "room": str(self.room_id) if self.room_id else None,
            "user": str(self.user_id),
            "reason": self.reason,
            "valid_until": isoformat(self.valid_until),
            "created_at": isoformat(self.created_at),
        }


class Counter(db.Model):
    """Named counters; the `message_seq` row hands out message sequence numbers."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
