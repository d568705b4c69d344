"""Messages: posting (a durable 202: the processor commits it first), what a post
carries (mentions, reply), history and read markers, and the changes to stored messages
— edits, deletions and reactions — each committed with its place in the order
(chat/realtime/order.py), so every member's stream applies it right after the messages
before it."""

import re
import time
import uuid

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from chat.errors import APIError, conflict, forbidden, not_found
from chat.extensions import db
from chat.message_view import serialize
from chat.models import Membership, Mention, Message, Reaction, User, isoformat, utcnow
from chat.ratelimit import get_limits
from chat.realtime import publish
from chat.realtime.events import public_message
from chat.realtime.order import Change, commit_changes
from chat.realtime.processor import Overloaded

# "@name" as a whole name: not inside a word or an e-mail address.
MENTION = re.compile(r"(?<![A-Za-z0-9_.@-])@([A-Za-z0-9_.-]+)")


# -- posting ---------------------------------------------------------------------------


def accept_post(processor, room, user, text, message_id, reply_to, accept_timeout):
    """Hands the message to the processor and returns it once committed (a 202 is
    durable). A client id already stored answers with the original (same author) or
    409; a commit that takes longer than `accept_timeout` is a 503, after which posting
    again with the same id is safe.

    An id already stored is found by the processor's insert (it stores nothing and
    answers with the stored row), not looked up here first: that lookup and the rollback
    after it were two round trips on every post with a client id, about a quarter of the
    worker's time at 200 posts/s (docs/benchmarks.md, section 2)."""
    reply_to = check_reply_target(room, reply_to, processor.pending)
    current_app.extensions["post_limiter"].hit(user.id)
    now = utcnow()
    message = {
        "id": str(message_id or uuid.uuid4()), "user": str(user.id), "room": str(room.id),
        "message": text, "created_at": isoformat(now), "reply_to": reply_to,
        "edited_at": None, "mentions": mentioned_members(room.id, text), "reactions": [],
        "created_at_dt": now, "accepted_at": time.time(),
    }
    try:
        ticket = processor.submit(message)  # one waiting under the same id is joined
    except Overloaded:
        raise _busy() from None
    db.session.remove()  # hold no pooled connection while waiting (creates no session)
    if not ticket.wait(accept_timeout):
        raise _busy()  # it may still be stored: posting again with the same id is safe
    if ticket.outcome != "stored":
        raise conflict("The message could not be stored")
    if ticket.stored["user"] != message["user"]:  # the same id raced in from someone else
        raise conflict("This message id is already used")
    return public_message(ticket.stored)


def _busy():
    return APIError(503, "overloaded", "The server is busy; retry shortly",
                    {"Retry-After": "1"})


# -- what a post carries ----------------------------------------------------------------


def mentioned_members(room_id, text):
    """Ids of the room's members that `text` names with @name (case-insensitive, whole
    names; a sentence's full stop after the name is not part of it), in text order."""
    tokens = [match.group(1).lower() for match in MENTION.finditer(text)]
    if not tokens:
        return []  # the common case costs no query
    candidates = {name for token in tokens for name in (token, token.rstrip(".-")) if name}
    members = dict(db.session.execute(
        select(func.lower(User.name), User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id, func.lower(User.name).in_(candidates))).all())
    found = []
    for token in tokens:
        user_id = members.get(token) or members.get(token.rstrip(".-"))
        if user_id is not None and str(user_id) not in found:
            found.append(str(user_id))
    return found


def check_reply_target(room, message_id, pending):
    """`reply_to` must name a message of the same room (stored, or accepted and about to
    be: `pending(id)` is the processor's view)."""
    if message_id is None:
        return None
    stored_room = db.session.scalar(select(Message.room_id).where(Message.id == message_id))
    waiting = pending(message_id) if stored_room is None else None
    if stored_room != room.id and (waiting is None or waiting["room"] != str(room.id)):
        raise APIError(400, "validation_error", "'reply_to' is not a message of this room")
    return str(message_id)


# -- reading ---------------------------------------------------------------------------


def _cursor_seq(room, message_id, name):
    """The place of a cursor message of the room (deleted ones included: their ids stay
    valid cursors); 400 invalid_cursor for any other id."""
    if message_id is None:
        return None
    seq = db.session.scalar(select(Message.seq).where(
        Message.id == message_id, Message.room_id == room.id))
    if seq is None:
        raise APIError(400, "invalid_cursor", f"'{name}' is not a message of this room")
    return seq


def history_page(room, limit, before_id, after_id):
    """Up to `limit` live messages, oldest first: after `after_id`, before `before_id`,
    or the newest."""
    before = _cursor_seq(room, before_id, "before")
    after = _cursor_seq(room, after_id, "after")
    query = select(Message).where(Message.room_id == room.id, Message.deleted_at.is_(None))
    if after is not None:
        page = db.session.scalars(
            query.where(Message.seq > after).order_by(Message.seq).limit(limit)).all()
    else:
        if before is not None:
            query = query.where(Message.seq < before)
        page = db.session.scalars(query.order_by(Message.seq.desc()).limit(limit)).all()
        page.reverse()
    return serialize(db.session, page)


def one_message(room, message_id, pending):
    """The message, stored or accepted and about to be (`pending(id)`: the processor's
    view); 404 for a deleted one or one of another room."""
    message = db.session.get(Message, message_id)
    if message is not None and message.room_id == room.id:
        if message.deleted_at is not None:
            raise not_found("This message was deleted")
        return _shown(message)
    waiting = pending(message_id)
    if waiting is not None and waiting["room"] == str(room.id):
        return public_message(waiting)
    raise not_found("No such message")


def mark_read(room, user, message_id):
    """Moves the user's read marker forward (never back); the user's streams hear it."""
    seq = db.session.scalar(select(Message.seq).where(
        Message.id == message_id, Message.room_id == room.id))
    if seq is None:
        raise not_found("No such message in this room")
    moved = db.session.execute(
        update(Membership)
        .where(Membership.room_id == room.id, Membership.user_id == user.id,
               (Membership.last_read_seq.is_(None)) | (Membership.last_read_seq < seq))
        .values(last_read_seq=seq, last_read_id=message_id)).rowcount
    db.session.commit()
    if moved:
        publish("read", user=str(user.id), room=str(room.id), message=str(message_id))


# -- changes to stored messages ---------------------------------------------------------


def _shown(message):
    return serialize(db.session, [message])[0]


def _locked_message(room, message_id):
    """The live message, its row locked until the commit (PostgreSQL; SQLite writes one
    at a time anyway), so that an edit, a deletion and reactions of one message apply
    one after the other. 404 for a deleted message or one of another room."""
    message = db.session.scalar(select(Message).where(
        Message.id == message_id, Message.room_id == room.id,
        Message.deleted_at.is_(None)).with_for_update())
    if message is None:
        raise not_found("No such message")
    return message


def edit_message(room, message_id, user, text):
    """The author's new text; mentions follow it, the reply stays. Returns the Message."""
    message = _locked_message(room, message_id)
    if message.user_id != user.id:
        raise forbidden("Only the author may edit a message")
    message.message = text
    message.edited_at = utcnow()
    db.session.execute(delete(Mention).where(Mention.message_id == message.id))
    db.session.add_all(
        Mention(message_id=message.id, user_id=uuid.UUID(member), room_id=room.id,
                seq=message.seq, position=position)
        for position, member in enumerate(mentioned_members(room.id, text)))
    db.session.flush()
    edited = _shown(message)
    commit_changes([Change("edit", room.id, user.id, "edited", message=message.id,
                           shown=edited)])
    return edited


def delete_message(room, message_id, user):
    """By the author, the room's owner or an admin. The row stays (its id is still a
    cursor and a Last-Event-ID), its text, mentions and reactions go."""
    message = _locked_message(room, message_id)
    if not (message.user_id == user.id or room.owner_id == user.id or user.is_admin):
        raise forbidden("Only the author, the room's owner or an admin may delete a message")
    message.message = ""
    message.deleted_at = utcnow()
    db.session.execute(delete(Mention).where(Mention.message_id == message.id))
    db.session.execute(delete(Reaction).where(Reaction.message_id == message.id))
    commit_changes([Change("delete", room.id, user.id, "deleted", message=message.id)])


def add_reaction(room, message_id, user, emoji):
    """Idempotent: an emoji the user already put there changes nothing."""
    message = _locked_message(room, message_id)
    if db.session.get(Reaction, (message.id, emoji, user.id)) is not None:
        db.session.commit()
        return

    def placed(seq):  # the reaction's place orders the message's emoji by first use
        db.session.add(Reaction(message_id=message.id, emoji=emoji, user_id=user.id, seq=seq))

    try:
        commit_changes([Change("reaction", room.id, user.id, "added", message=message.id,
                               emoji=emoji, placed=placed)])
    except IntegrityError:  # the same reaction raced in (SQLite takes no row lock)
        db.session.rollback()


def remove_reaction(room, message_id, user, emoji):
    """Idempotent: removing a reaction that is not there changes nothing."""
    message = _locked_message(room, message_id)
    removed = db.session.execute(delete(Reaction).where(
        Reaction.message_id == message.id, Reaction.emoji == emoji,
        Reaction.user_id == user.id)).rowcount
    if not removed:
        db.session.commit()
        return
    commit_changes([Change("reaction", room.id, user.id, "removed", message=message.id,
                           emoji=emoji)])


def announce_typing(room_id, user, member_room):
    """A `typing` event to the room's other members, at most once per 3 s per user and
    room and at most TYPING_ROOM_RATE per room (chat/ratelimit.py); nothing is stored.
    Members only: `member_room(room_id)` answers from memory after the first call, so a
    typing storm costs no database round trip."""
    room = member_room(room_id)
    if get_limits().typing_announced(user.id, room.id):
        publish("typing", room=str(room.id), user=str(user.id))
