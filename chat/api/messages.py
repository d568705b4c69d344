"""Messages: intake (202 once the processor has committed it), history pages, one
message, edits, deletions, reactions, typing, read markers. Each route checks the input
and who is asking, then calls one function of chat/messages.py."""

from flask import Blueprint, current_app, g, request

from chat import messages as message_service
from chat.access import live_room, member_room, readable_room
from chat.auth import caller_from_memory
from chat.errors import bad_request, forbidden
from chat.realtime import get_realtime
from chat.validation import (emoji as emoji_value, int_arg, json_body, message_text,
                             uuid_arg, uuid_field)

bp = Blueprint("messages", __name__)

DEFAULT_PAGE, MAX_PAGE = 50, 200


def _location(message):
    return {"Location": f"/v1/chats/rooms/{message['room']}/messages/{message['id']}"}


@bp.post("/rooms/<uid:room_id>/messages")
@caller_from_memory
def post_message(room_id):
    body = json_body()
    text = message_text(body)
    message_id = uuid_field(body, "id", required=False)
    author = uuid_field(body, "user", required=False)
    reply_to = uuid_field(body, "reply_to", required=False)
    room = member_room(room_id)
    if author is not None and author != g.user.id:
        raise forbidden("Messages are always posted as yourself")
    message = message_service.accept_post(
        get_realtime().processor, room, g.user, text, message_id, reply_to,
        current_app.config["CHAT_ACCEPT_TIMEOUT_SECONDS"])
    return message, 202, _location(message)


def _cursor(name):
    return uuid_arg(name, code="invalid_cursor")


@bp.get("/rooms/<uid:room_id>/messages")
def list_messages(room_id):
    room = readable_room(room_id)
    limit = int_arg("limit", DEFAULT_PAGE, MAX_PAGE)
    if "before" in request.args and "after" in request.args:
        raise bad_request("Use 'before' or 'after', not both")
    return message_service.history_page(room, limit, _cursor("before"), _cursor("after"))


@bp.get("/rooms/<uid:room_id>/messages/<uid:message_id>")
def get_message(room_id, message_id):
    room = readable_room(room_id)
    return message_service.one_message(room, message_id, get_realtime().processor.pending)


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


@bp.route("/rooms/<uid:room_id>/messages/<uid:message_id>/reactions/<emoji>",
          methods=["PUT", "DELETE"])
@caller_from_memory
def reaction(room_id, message_id, emoji):
    emoji = emoji_value(emoji)
    room = member_room(room_id)
    change = (message_service.add_reaction if request.method == "PUT"
              else message_service.remove_reaction)
    change(room, message_id, g.user, emoji)
    return "", 204


@bp.post("/rooms/<uid:room_id>/typing")
@caller_from_memory
def typing(room_id):
    message_service.announce_typing(room_id, g.user, member_room)
    return "", 204


@bp.put("/rooms/<uid:room_id>/read")
@caller_from_memory
def mark_read(room_id):
    message_id = uuid_field(json_body(), "message")
    message_service.mark_read(member_room(room_id), g.user, message_id)
    return "", 204
