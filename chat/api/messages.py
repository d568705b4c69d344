"""Messages: intake (202 once the processor has committed it), history pages, one
message, edits, deletions, reactions, typing, read markers. Each route checks the input
and who is asking, then calls one function of chat/messages.py."""

from flask import Blueprint, current_app, g

from chat import messages as message_service
from chat.access import live_room, member_room, readable_room
from chat.api.openapi import MESSAGE, RETRY_AFTER, operation
from chat.auth import caller_from_memory
from chat.api.rooms import BANNED_403, ROOM_404
from chat.errors import forbidden
from chat.realtime import get_realtime
from chat.schemas import (HistoryQuery, Message, MessageCreate, MessageEdit,
                          ReadMarkerUpdate, parse_body, parse_query)
from chat.validation import emoji as emoji_value, json_body

bp = Blueprint("messages", __name__)

_MEMBER_403 = "Not a member (`not_member`), or banned from the room (`banned`)."
_MESSAGE_404 = ROOM_404 + " Also: no such message in this room, or deleted."
_MESSAGE_LOCATION = {"Location": {
    "description": "URL of the message (/v1/chats/rooms/{id}/messages/{mid}).",
    "required": True, "schema": {"type": "string", "format": "uri-reference"}}}


def _location(message):
    return {"Location": f"/v1/chats/rooms/{message['room']}/messages/{message['id']}"}


@bp.post("/rooms/<uid:room_id>/messages")
@caller_from_memory
@operation(
    "postMessage", "messages", "Post a message",
    description="Answered once the message is committed; delivered asynchronously. With a "
                "client-generated `id` the post is idempotent: the same `id` from the same "
                "user answers 202 with the original message and stores nothing new.",
    body=MessageCreate,
    ok={202: (Message, "The message as stored.", _MESSAGE_LOCATION)},
    links={202: {
        "Get": ("getMessage", MESSAGE), "Edit": ("editMessage", MESSAGE),
        "Delete": ("deleteMessage", MESSAGE), "React": ("addReaction", MESSAGE),
        "Unreact": ("removeReaction", MESSAGE),
        "Reply": ("postMessage", {"id": "$response.body#/room"},
                  {"message": "re", "reply_to": "$response.body#/id"}),
        "Read": ("markRead", {"id": "$response.body#/room"},
                 {"message": "$response.body#/id"}),
        "Before": ("listMessages", {"id": "$response.body#/room",
                                    "before": "$response.body#/id"})}},
    errors={400: "Also `empty_message` (only whitespace) and `message_too_long`; "
                 "`reply_to` not a message of this room.",
            403: _MEMBER_403 + " Or `user` is not the caller (`forbidden`).",
            404: ROOM_404,
            409: ("`id` was already used by another user.", ["conflict"]),
            429: ("Too many posts (CHAT_RATE_LIMIT).", ["rate_limited"],
                  {"Retry-After": RETRY_AFTER}),
            503: ("Server backlog full (CHAT_QUEUE_SIZE) or the commit took longer than "
                  "CHAT_ACCEPT_TIMEOUT_SECONDS; retrying with the same `id` is safe.",
                  ["overloaded"], {"Retry-After": RETRY_AFTER})})
def post_message(room_id):
    post = parse_body(MessageCreate, json_body())
    room = member_room(room_id)
    if post.user is not None and post.user != g.user.id:
        raise forbidden("Messages are always posted as yourself")
    message = message_service.accept_post(
        get_realtime().processor, room, g.user, post.message, post.id, post.reply_to,
        current_app.config["CHAT_ACCEPT_TIMEOUT_SECONDS"])
    return message, 202, _location(message)


@bp.get("/rooms/<uid:room_id>/messages")
@operation(
    "listMessages", "messages", "Message history",
    description="Stored order. Without cursors: the newest `limit`; with `before`/`after`: "
                "the nearest `limit` on that side. Public rooms: any signed-in user; "
                "private/direct: members.",
    query=HistoryQuery,
    ok={200: ({"type": "array", "items": {"$ref": "#/components/schemas/Message"},
               "maxItems": 200}, "Messages, oldest first.")},
    errors={400: "Also `invalid_cursor` (unknown `before`/`after`) and both cursors at once.",
            403: BANNED_403, 404: ROOM_404})
def list_messages(room_id):
    room = readable_room(room_id)
    page = parse_query(HistoryQuery, exclusive_cursors=True)
    return message_service.history_page(room, page.limit, page.before, page.after)


@bp.get("/rooms/<uid:room_id>/messages/<uid:message_id>")
@operation("getMessage", "messages", "One message", ok={200: (Message, "The message.")},
           errors={403: BANNED_403, 404: _MESSAGE_404})
def get_message(room_id, message_id):
    room = readable_room(room_id)
    return message_service.one_message(room, message_id, get_realtime().processor.pending)


@bp.patch("/rooms/<uid:room_id>/messages/<uid:message_id>")
@operation(
    "editMessage", "messages", "Edit a message (its author)",
    description="The same text rules as posting; `mentions` follow the new text, "
                "`reply_to` stays. Stored before the answer; every member's stream gets "
                "`event: edit` in the room's order.",
    body=MessageEdit,
    ok={200: (Message, "The message as edited.")},
    errors={400: "Also `empty_message` and `message_too_long`.",
            403: _MEMBER_403 + " Or the caller is not the author (`forbidden`).",
            404: _MESSAGE_404})
def edit_message(room_id, message_id):
    text = parse_body(MessageEdit, json_body()).message
    room = member_room(room_id)
    return message_service.edit_message(room, message_id, g.user, text)


@bp.delete("/rooms/<uid:room_id>/messages/<uid:message_id>")
@operation(
    "deleteMessage", "messages", "Delete a message (author, owner or admin)",
    description="The text is erased; the id stays valid as a history cursor and "
                "Last-Event-ID. Members' streams get `event: delete`.",
    ok={204: (None, "Deleted.")},
    errors={403: BANNED_403 + " Or neither the author, the room's owner nor an admin "
                              "(`forbidden`).",
            404: _MESSAGE_404})
def delete_message(room_id, message_id):
    # Admins moderate any live room (like kicks); others need to be able to read it.
    room = live_room(room_id) if g.user.is_admin else readable_room(room_id)
    message_service.delete_message(room, message_id, g.user)
    return "", 204


_REACTIONS = "/rooms/<uid:room_id>/messages/<uid:message_id>/reactions/<emoji>"


def _react(room_id, message_id, emoji, change):
    emoji = emoji_value(emoji)
    room = member_room(room_id)
    change(room, message_id, g.user, emoji)
    return "", 204


@bp.put(_REACTIONS)
@caller_from_memory
@operation("addReaction", "messages", "React to a message (members; idempotent)",
           ok={204: (None, "The caller's reaction is there.")},
           errors={400: "Also: `emoji` is not an emoji or a `:name:`.",
                   403: _MEMBER_403, 404: _MESSAGE_404})
def add_reaction(room_id, message_id, emoji):
    return _react(room_id, message_id, emoji, message_service.add_reaction)


@bp.delete(_REACTIONS)
@caller_from_memory
@operation("removeReaction", "messages", "Take a reaction back (members; idempotent)",
           ok={204: (None, "The caller's reaction is not there.")},
           errors={400: "Also: `emoji` is not an emoji or a `:name:`.",
                   403: _MEMBER_403, 404: _MESSAGE_404})
def remove_reaction(room_id, message_id, emoji):
    return _react(room_id, message_id, emoji, message_service.remove_reaction)


@bp.post("/rooms/<uid:room_id>/typing")
@caller_from_memory
@operation("announceTyping", "messages", "Say the caller is typing (members)",
           description="The other members' streams get `event: typing`, at most once per "
                       "3 s per user and room. Nothing is stored.",
           ok={204: (None, "Announced, or already announced within 3 s.")},
           errors={403: _MEMBER_403, 404: ROOM_404})
def typing(room_id):
    message_service.announce_typing(room_id, g.user, member_room)
    return "", 204


@bp.put("/rooms/<uid:room_id>/read")
@caller_from_memory
@operation("markRead", "read markers", "Move the caller's read marker",
           description="Moves it forward only (an older message leaves it where it is, "
                       "still 204). The caller's streams get `event: read`.",
           body=ReadMarkerUpdate,
           ok={204: (None, "Done (moved or kept).")},
           errors={400: "Possibly also: `message` is not a message of this room.",
                   403: _MEMBER_403, 404: ROOM_404 + " Also: no such message in this room."})
def mark_read(room_id):
    message_id = parse_body(ReadMarkerUpdate, json_body()).message
    message_service.mark_read(member_room(room_id), g.user, message_id)
    return "", 204
