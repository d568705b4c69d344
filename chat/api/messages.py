"""Messages: intake (202 once the processor has committed it), history pages, one
message, edits, deletions, reactions, typing, read markers."""

import time
import uuid

from flask import Blueprint, current_app, g, request
from sqlalchemy import select, update

from chat import messages as message_service
from chat.access import live_room, member_room, readable_room
from chat.errors import APIError, bad_request, conflict, forbidden, not_found
from chat.extensions import db
from chat.message_view import serialize
from chat.models import Membership, Message, isoformat, utcnow
from chat.realtime import get_realtime, publish
from chat.realtime.events import public_message
from chat.realtime.processor import Overloaded
from chat.validation import (emoji as emoji_value, int_arg, json_body, message_text,
                             uuid_arg, uuid_field)

bp = Blueprint("messages", __name__)

DEFAULT_PAGE, MAX_PAGE = 50, 200


def _location(message):
    return {"Location": f"/v1/chats/rooms/{message['room']}/messages/{message['id']}"}


def _earlier_post(message_id):
    """The message already stored under this id (one still waiting for its commit is
    joined by `submit`, and answered when it commits)."""
    stored = db.session.get(Message, message_id)
    return serialize(db.session, [stored])[0] if stored is not None else None


@bp.post("/rooms/<uid:room_id>/messages")
def post_message(room_id):
    body = json_body()
    text = message_text(body)
    message_id = uuid_field(body, "id", required=False)
    author = uuid_field(body, "user", required=False)
    reply_to = uuid_field(body, "reply_to", required=False)
    room = member_room(room_id)
    if author is not None and author != g.user.id:
        raise forbidden("Messages are always posted as yourself")

    if message_id is not None:
        earlier = _earlier_post(message_id)
        if earlier is not None:
            if earlier["user"] != str(g.user.id):
                raise conflict("This message id is already used")
            return earlier, 202, _location(earlier)

    processor = get_realtime().processor
    reply_to = message_service.check_reply_target(room, reply_to, processor.pending)
    current_app.extensions["post_limiter"].hit(g.user.id)
    now = utcnow()
    message = {
        "id": str(message_id or uuid.uuid4()), "user": str(g.user.id), "room": str(room.id),
        "message": text, "created_at": isoformat(now), "reply_to": reply_to,
        "edited_at": None, "mentions": message_service.mentioned_members(room.id, text),
        "reactions": [], "created_at_dt": now, "accepted_at": time.time(),
    }
    try:
        ticket = processor.submit(message)
    except Overloaded:
        raise _busy() from None
    # A 202 is durable: answer once the message's batch has committed (group commit).
    db.session.close()  # hold no pooled connection while waiting
    if not ticket.wait(current_app.config["CHAT_ACCEPT_TIMEOUT_SECONDS"]):
        raise _busy()  # it may still be stored: posting again with the same id is safe
    if ticket.outcome != "stored":
        raise conflict("The message could not be stored")
    stored = ticket.stored
    if stored["user"] != message["user"]:  # the same id raced in from someone else
        raise conflict("This message id is already used")
    return public_message(stored), 202, _location(stored)


def _busy():
    return APIError(503, "overloaded", "The server is busy; retry shortly",
                    {"Retry-After": "1"})


def _cursor_seq(room, name):
    message_id = uuid_arg(name, code="invalid_cursor")
    if message_id is None:
        return None
    seq = db.session.scalar(select(Message.seq).where(
        Message.id == message_id, Message.room_id == room.id))
    if seq is None:
        raise APIError(400, "invalid_cursor", f"'{name}' is not a message of this room")
    return seq


@bp.get("/rooms/<uid:room_id>/messages")
def list_messages(room_id):
    room = readable_room(room_id)
    limit = int_arg("limit", DEFAULT_PAGE, MAX_PAGE)
    if "before" in request.args and "after" in request.args:
        raise bad_request("Use 'before' or 'after', not both")
    before, after = _cursor_seq(room, "before"), _cursor_seq(room, "after")
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


@bp.get("/rooms/<uid:room_id>/messages/<uid:message_id>")
def get_message(room_id, message_id):
    room = readable_room(room_id)
    message = db.session.get(Message, message_id)
    if message is not None and message.room_id == room.id:
        if message.deleted_at is not None:
            raise not_found("This message was deleted")
        return serialize(db.session, [message])[0]
    pending = get_realtime().processor.pending(message_id)
    if pending is not None and pending["room"] == str(room.id):
        return public_message(pending)
    raise not_found("No such message")


@bp.patch("/rooms/<uid:room_id>/messages/<uid:message_id>")
def edit_message(room_id, message_id):
    text = message_text(json_body())
    room = member_room(room_id)
    return message_service.edit_message(room, message_id, g.user, text)


@bp.delete("/rooms/<uid:room_id>/messages/<uid:message_id>")
def delete_message(room_id, message_id):
    # Admins moderate any live room (like kicks); others need to be able to read it.
    room = live_room(room_id) if g.user.is_admin else readable_room(room_id)
    message_service.delete_message(room, message_id, g.user)
    return "", 204


@bp.put("/rooms/<uid:room_id>/messages/<uid:message_id>/reactions/<emoji>")
def add_reaction(room_id, message_id, emoji):
    emoji = emoji_value(emoji)
    room = member_room(room_id)
    message_service.add_reaction(room, message_id, g.user, emoji)
    return "", 204


@bp.delete("/rooms/<uid:room_id>/messages/<uid:message_id>/reactions/<emoji>")
def remove_reaction(room_id, message_id, emoji):
    emoji = emoji_value(emoji)
    room = member_room(room_id)
    message_service.remove_reaction(room, message_id, g.user, emoji)
    return "", 204


@bp.post("/rooms/<uid:room_id>/typing")
def typing(room_id):
    message_service.announce_typing(member_room(room_id), g.user)
    return "", 204


@bp.put("/rooms/<uid:room_id>/read")
def mark_read(room_id):
    body = json_body()
    message_id = uuid_field(body, "message")
    room = member_room(room_id)
    seq = db.session.scalar(select(Message.seq).where(
        Message.id == message_id, Message.room_id == room.id))
    if seq is None:
        raise not_found("No such message in this room")
    moved = db.session.execute(
        update(Membership)
        .where(Membership.room_id == room.id, Membership.user_id == g.user.id,
               (Membership.last_read_seq.is_(None)) | (Membership.last_read_seq < seq))
        .values(last_read_seq=seq, last_read_id=message_id)).rowcount
    db.session.commit()
    if moved:
        publish("read", user=str(g.user.id), room=str(room.id), message=str(message_id))
    return "", 204
