"""Rooms: create, list, look up, delete."""

from flask import Blueprint, g

from chat import rooms as room_service
from chat.access import moderated_room, visible_room
from chat.errors import bad_request, conflict
from chat.models import GENERAL_ROOM
from chat.validation import json_body, room_name, string_field

bp = Blueprint("rooms", __name__)


@bp.post("/rooms")
def create_room():
    body = json_body()
    name = room_name(body)
    kind = string_field(body, "kind", required=False) or "public"
    if kind not in ("public", "private"):
        raise bad_request("'kind' must be 'public' or 'private'")
    room = room_service.create_room(name, kind, g.user)
    return room.to_dict(), 201, {"Location": f"/v1/chats/rooms/{room.id}"}


@bp.get("/rooms")
def list_rooms():
    return room_service.visible_rooms(g.user.id)


@bp.get("/rooms/<uid:room_id>")
def get_room(room_id):
    return room_service.shown_room(visible_room(room_id), g.user.id)


@bp.delete("/rooms/<uid:room_id>")
def delete_room(room_id):
    room = moderated_room(room_id)
    if room.kind == "public" and room.name.lower() == GENERAL_ROOM:
        raise conflict("The general room cannot be deleted")
    room_service.delete_room(room)
    return "", 204
