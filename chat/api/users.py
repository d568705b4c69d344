"""Accounts: sign-up, lookups, a user's rooms with unread counts, deletion, direct rooms."""

from flask import Blueprint, g, request

from chat import accounts, rooms as room_service
from chat.access import existing_user, require_self
from chat.auth import public
from chat.errors import bad_request, conflict, forbidden
from chat.ratelimit import get_limits
from chat.validation import json_body, password, user_name, uuid_field

bp = Blueprint("users", __name__)


@bp.post("/users")
@public
def create_user():
    get_limits().hit_signup()
    body = json_body()
    name, secret = user_name(body), password(body)
    user = accounts.create_user(name, secret, uuid_field(body, "api_user", required=False))
    return user.to_dict(), 201, {"Location": f"/v1/chats/users/{user.id}"}


@bp.get("/users/me")
def get_me():
    return g.user.to_dict()


@bp.get("/users/<uid:user_id>")
def get_user(user_id):
    return existing_user(user_id).to_dict()


@bp.get("/users")
def find_user():
    name = request.args.get("name")
    if not name:
        raise bad_request("The 'name' query parameter is required")
    user = accounts.user_by_name(name)
    return [user.to_dict()] if user is not None else []


@bp.get("/users/<uid:user_id>/rooms")
def list_user_rooms(user_id):
    require_self(user_id)
    return room_service.rooms_with_unread(user_id)


@bp.delete("/users/<uid:user_id>")
def delete_user(user_id):
    if user_id != g.user.id and not g.user.is_admin:
        raise forbidden("You may only delete your own account")
    user = existing_user(user_id)
    if user.password_hash is None:
        raise conflict("System users cannot be deleted")
    accounts.delete_user(user)
    return "", 204


@bp.put("/users/<uid:user_id>/direct")
def open_direct_room(user_id):
    if user_id == g.user.id:
        raise bad_request("A direct room needs another user")
    other = existing_user(user_id)
    room, created = room_service.get_or_create_direct(g.user, other)
    return (room_service.shown_room(room, g.user.id), 201 if created else 200,
            {"Location": f"/v1/chats/rooms/{room.id}"})
