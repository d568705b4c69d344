"""Room members: list (with presence), join, leave and kick."""

from flask import Blueprint, g

from chat import rooms as room_service
from chat.access import live_room, membership, moderated_room, visible_room
from chat.errors import conflict, forbidden, not_found
from chat.realtime import get_realtime
from chat.validation import json_body, uuid_field

bp = Blueprint("memberships", __name__)


@bp.get("/rooms/<uid:room_id>/users")
def list_members(room_id):
    room = visible_room(room_id)
    users = room_service.members(room.id)
    online = get_realtime().presence.online_among(user.id for user in users)
    return [{**user.to_dict(), "online": str(user.id) in online} for user in users]


@bp.post("/rooms/<uid:room_id>/users")
def join_room(room_id):
    body = json_body()
    user_id = uuid_field(body, "chat_user")
    room = visible_room(room_id)  # 404 unless public, a member, or invited; 403 if banned
    if user_id != g.user.id:
        raise forbidden("You can only add yourself; invite others instead")
    if room.kind == "direct":
        raise forbidden("Nobody joins a direct room")
    if membership(room.id, user_id) is not None:
        raise conflict("Already a member of this room")
    room_service.join(room, user_id)  # for a private room, accepts the invitation
    return "", 204


@bp.delete("/rooms/<uid:room_id>/users/<uid:user_id>")
def remove_member(room_id, user_id):
    if user_id == g.user.id:
        room = live_room(room_id) if membership(room_id, user_id) else visible_room(room_id)
        action = "left"
    else:
        room = moderated_room(room_id)
        action = "kicked"
    if room.kind == "direct":
        raise conflict("Nobody leaves a direct room")
    if not room_service.remove_member(room, user_id, action):
        raise not_found("That user is not a member of this room")
    return "", 204
