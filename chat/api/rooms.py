"""Rooms: create, list, look up, delete."""

from flask import Blueprint, g

from chat import rooms as room_service
from chat.access import moderated_room, visible_room
from chat.api.openapi import operation, room_links
from chat.errors import conflict
from chat.models import GENERAL_ROOM
from chat.schemas import Room, RoomCreate, parse_body
from chat.validation import json_body

ROOM_404 = ("No such room, a deactivated room, or a private/direct room the caller is not "
            "in (and, for a private room, holds no pending invitation to).")
BANNED_403 = "The caller is banned from the room (`banned`)."

bp = Blueprint("rooms", __name__)


@bp.post("/rooms")
@operation("createRoom", "rooms", "Create a room",
           description="The creator is the owner and first member.",
           body=RoomCreate,
           ok={201: (Room, "The new room.")}, links={201: room_links()},
           errors={400: "Also `invalid_name` (not 1–64 chars after trimming, or control or "
                        "format characters) and a `kind` other than public/private.",
                   409: ("A live room has this name (case-insensitively).", ["name_taken"])})
def create_room():
    new = parse_body(RoomCreate, json_body())
    room = room_service.create_room(new.name, new.kind, g.user)
    return room.to_dict(), 201, {"Location": f"/v1/chats/rooms/{room.id}"}


@bp.get("/rooms")
@operation("listRooms", "rooms", "Visible rooms",
           ok={200: ([Room], "Public rooms plus every room the caller belongs to.")})
def list_rooms():
    return room_service.visible_rooms(g.user.id)


@bp.get("/rooms/<uid:room_id>")
@operation("getRoom", "rooms", "A room",
           ok={200: (Room, "The room.")},
           errors={403: BANNED_403, 404: ROOM_404})
def get_room(room_id):
    return room_service.shown_room(visible_room(room_id), g.user.id)


@bp.delete("/rooms/<uid:room_id>")
@operation("deleteRoom", "rooms", "Delete a room (owner or admin)",
           description="Members get `event: room` {action: deleted}.",
           ok={204: (None, "Deleted.")},
           errors={403: "Neither the owner nor an admin.", 404: ROOM_404,
                   409: ("The `general` room cannot be deleted.", ["conflict"])})
def delete_room(room_id):
    room = moderated_room(room_id)
    if room.kind == "public" and room.name.lower() == GENERAL_ROOM:
        raise conflict("The general room cannot be deleted")
    room_service.delete_room(room)
    return "", 204
