"""Room members: list (with presence), join, leave and kick."""

from flask import Blueprint, g

from chat import rooms as room_service
from chat.access import live_room, membership, moderated_room, visible_room
from chat.api.openapi import operation
from chat.api.rooms import BANNED_403, ROOM_404
from chat.errors import conflict, forbidden, not_found
from chat.realtime import get_realtime
from chat.schemas import MembershipCreate, UserWithPresence, parse_body
from chat.validation import json_body

bp = Blueprint("memberships", __name__)


@bp.get("/rooms/<uid:room_id>/users")
@operation("listRoomUsers", "memberships", "Members of a room",
           ok={200: ([UserWithPresence], "The members, each with `online`.")},
           errors={403: BANNED_403, 404: ROOM_404})
def list_members(room_id):
    room = visible_room(room_id)
    users = room_service.members(room.id)
    online = get_realtime().presence.online_among(user.id for user in users)
    return [{**user.to_dict(), "online": str(user.id) in online} for user in users]


@bp.post("/rooms/<uid:room_id>/users")
@operation("joinRoom", "memberships", "Join a room",
           description="Public room: only yourself. Private room: only yourself, holding a "
                       "pending invitation (accepting it). Direct room: never.",
           body=MembershipCreate,
           ok={204: (None, "Joined.")},
           errors={403: "`chat_user` is not the caller, the room is direct, or the caller "
                        "is banned from it (`banned`).",
                   404: ROOM_404 + " Also no such user.",
                   409: ("Already a member.", ["conflict"])})
def join_room(room_id):
    user_id = parse_body(MembershipCreate, json_body()).chat_user
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
@operation("removeRoomUser", "memberships", "Leave (yourself) or kick (owner/admin)",
           description="When the last member leaves, the room is deactivated: gone from "
                       "lists, no posts, 404 everywhere.",
           path_names={"room_id": "room", "user_id": "user"},
           ok={204: (None, "Left or kicked.")},
           errors={403: "Kicking someone else without being the owner or an admin.",
                   404: ROOM_404 + " Also: the user is not a member.",
                   409: ("Leaving a direct room.", ["conflict"])})
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
