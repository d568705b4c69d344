"""Accounts: sign-up, lookups, a user's rooms with unread counts, deletion, direct rooms."""

from flask import Blueprint, g

from chat import accounts, rooms as room_service
from chat.access import existing_user, require_self
from chat.api.openapi import RETRY_AFTER, operation, room_links
from chat.auth import public
from chat.errors import bad_request, conflict, forbidden
from chat.ratelimit import get_limits
from chat.schemas import (DirectRoom, FindUserQuery, RoomWithUnread, User, UserCreate,
                          parse_body, parse_query)
from chat.validation import json_body

bp = Blueprint("users", __name__)

_ROOM_LOCATION = {"Location": {"description": "URL of the room.",
                               "schema": {"type": "string", "format": "uri-reference"}}}


@bp.post("/users")
@public
@operation(
    "createUser", "users", "Sign up",
    description="Creates an account, which joins the `general` room. The password is "
                "stored only as a slow salted hash.",
    body=UserCreate,
    ok={201: (User, "The new user.")},
    links={201: {"Get": ("getUser", {"id": "$response.body#/id"}),
                 "Direct": ("openDirectRoom", {"id": "$response.body#/id"})}},
    errors={400: "Also `invalid_name` (not 1–32 chars of [A-Za-z0-9_.-]) and "
                 "`invalid_password` (not 8–128 chars).",
            409: ("The name is taken (case-insensitively).", ["name_taken"]),
            429: ("Too many sign-ups from this client address (CHAT_SIGNUP_RATE_LIMIT).",
                  ["rate_limited"], {"Retry-After": RETRY_AFTER})})
def create_user():
    get_limits().hit_signup()
    new = parse_body(UserCreate, json_body())
    user = accounts.create_user(new.name, new.password, new.api_user)
    return user.to_dict(), 201, {"Location": f"/v1/chats/users/{user.id}"}


@bp.get("/users/me")
@operation("getCurrentUser", "users", "The caller",
           ok={200: (User, "The signed-in user.")})
def get_me():
    return g.user.to_dict()


@bp.get("/users/<uid:user_id>")
@operation("getUser", "users", "A user", ok={200: (User, "The user.")},
           errors={404: "No such user."})
def get_user(user_id):
    return existing_user(user_id).to_dict()


@bp.get("/users")
@operation("findUserByName", "users", "Look a user up by name", query=FindUserQuery,
           ok={200: ({"type": "array", "items": {"$ref": "#/components/schemas/User"},
                      "maxItems": 1}, "0 or 1 users.")},
           errors={400: "E.g. no `name` parameter."})
def find_user():
    user = accounts.user_by_name(parse_query(FindUserQuery).name)
    return [user.to_dict()] if user is not None else []


@bp.get("/users/<uid:user_id>/rooms")
@operation("listUserRooms", "rooms", "The rooms of a user",
           description="Only the user themself may list them.",
           ok={200: ([RoomWithUnread], "Rooms with the caller's unread count and read "
                                       "marker.")},
           errors={403: ("`{id}` is not the caller.", ["forbidden"])})
def list_user_rooms(user_id):
    require_self(user_id)
    return room_service.rooms_with_unread(user_id)


@bp.delete("/users/<uid:user_id>")
@operation("deleteUser", "users", "Delete an account",
           description="Self or admin. The user's messages move to the `ghost` user; "
                       "their memberships, sessions and streams end.",
           ok={204: (None, "Deleted.")},
           errors={403: "Neither the user themself nor an admin.", 404: "No such user.",
                   409: ("A system user (`ghost`, `chatterly-bot`).", ["conflict"])})
def delete_user(user_id):
    if user_id != g.user.id and not g.user.is_admin:
        raise forbidden("You may only delete your own account")
    user = existing_user(user_id)
    if user.password_hash is None:
        raise conflict("System users cannot be deleted")
    accounts.delete_user(user)
    return "", 204


@bp.put("/users/<uid:user_id>/direct")
@operation("openDirectRoom", "rooms", "The direct room with a user",
           description="Finds or creates the one `direct` room between the caller and "
                       "`{id}`.",
           ok={200: (DirectRoom, "The existing direct room.", _ROOM_LOCATION),
               201: (DirectRoom, "A new direct room.", _ROOM_LOCATION)},
           links={200: room_links(), 201: room_links()},
           errors={400: "`{id}` is the caller.", 404: "No such user."})
def open_direct_room(user_id):
    if user_id == g.user.id:
        raise bad_request("A direct room needs another user")
    other = existing_user(user_id)
    room, created = room_service.get_or_create_direct(g.user, other)
    return (room_service.shown_room(room, g.user.id), 201 if created else 200,
            {"Location": f"/v1/chats/rooms/{room.id}"})
