"""Accounts: sign-up, lookups, a user's rooms with unread counts, deletion, direct rooms."""

from flask import Blueprint, g, request
from sqlalchemy import and_, func, or_, select

from chat import accounts, rooms as room_service
from chat.access import existing_user, require_self
from chat.auth import public
from chat.errors import bad_request, conflict, forbidden
from chat.extensions import db
from chat.models import Membership, Message, Room
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
    # One query for every room: unread = messages after the read marker by other users.
    unread = (select(func.count(Message.id))
              .where(Message.room_id == Room.id, Message.user_id != user_id,
                     or_(Membership.last_read_seq.is_(None),
                         Message.seq > Membership.last_read_seq))
              .correlate(Room, Membership).scalar_subquery())
    rows = db.session.execute(
        select(Room, Membership.last_read_id, unread.label("unread"))
        .join(Membership, and_(Membership.room_id == Room.id, Membership.user_id == user_id))
        .where(Room.active).order_by(func.lower(Room.name))).all()
    return [{**room.to_dict(), "unread_count": count,
             "last_read": str(last_read) if last_read else None}
            for room, last_read, count in rows]


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
    return room.to_dict(), 201 if created else 200, {"Location": f"/v1/chats/rooms/{room.id}"}
