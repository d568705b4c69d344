"""Messages: intake (202 once the processor has committed it), history pages, one
message, read markers."""

import time
import uuid

from flask import Blueprint, current_app, g, request
from sqlalchemy import select, update

from chat.access import member_room, readable_room
from chat.errors import APIError, bad_request, conflict, forbidden, not_found
from chat.extensions import db
from chat.models import Membership, Message, isoformat, utcnow
from chat.realtime import get_realtime, publish
from chat.realtime.events import public_message
from chat.realtime.processor import Overloaded
from chat.validation import int_arg, json_body, string_field, uuid_arg, uuid_field

bp = Blueprint("messages", __name__)

DEFAULT_PAGE, MAX_PAGE = 50, 200


def _location(message):
    return {"Location": f"/v1/chats/rooms/{message['room']}/messages/{message['id']}"}


def _earlier_post(message_id):
    """The message already stored under this id (one still waiting for its commit is
    joined by `submit`, and answered when it commits)."""
    stored = db.session.get(Message, message_id)
    return stored.to_dict() if stored is not None else None


@bp.post("/rooms/<uid:room_id>/messages")
def post_message(room_id):
    body = json_body()
    text = string_field(body, "message")
    message_id = uuid_field(body, "id", required=False)
    author = uuid_field(body, "user", required=False)
    room = member_room(room_id)
    if author is not None and author != g.user.id:
        raise forbidden("Messages are always posted as yourself")
    stripped = text.strip()
    if not stripped:
        raise APIError(400, "empty_message", "The message is empty")
    limit = current_app.config["CHAT_MAX_MESSAGE_LENGTH"]
    if len(stripped) > limit:
        raise APIError(400, "message_too_long", f"A message is at most {limit} characters")

    if message_id is not None:
        earlier = _earlier_post(message_id)
        if earlier is not None:
            if earlier["user"] != str(g.user.id):
                raise conflict("This message id is already used")
            return earlier, 202, _location(earlier)

    current_app.extensions["post_limiter"].hit(g.user.id)
    now = utcnow()
    message = {
        "id": str(message_id or uuid.uuid4()), "user": str(g.user.id), "room": str(room.id),
        "message": text, "created_at": isoformat(now),
        "created_at_dt": now, "accepted_at": time.time(),
    }
    try:
        ticket = get_realtime().processor.submit(message)
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
    query = select(Message).where(Message.room_id == room.id)
    if after is not None:
        page = db.session.scalars(
            query.where(Message.seq > after).order_by(Message.seq).limit(limit)).all()
    else:
        if before is not None:
            query = query.where(Message.seq < before)
        page = db.session.scalars(query.order_by(Message.seq.desc()).limit(limit)).all()
        page.reverse()
    return [message.to_dict() for message in page]


@bp.get("/rooms/<uid:room_id>/messages/<uid:message_id>")
def get_message(room_id, message_id):
    room = readable_room(room_id)
    message = db.session.get(Message, message_id)
    if message is not None and message.room_id == room.id:
        return message.to_dict()
    pending = get_realtime().processor.pending(message_id)
    if pending is not None and pending["room"] == str(room.id):
        return public_message(pending)
    raise not_found("No such message")


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
