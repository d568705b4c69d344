"""Room bans (owner or admin) and account bans (admin). Expiry needs no job: every check
compares `valid_until` with the current time."""

from flask import Blueprint, g
from sqlalchemy import delete, select

from chat import accounts, rooms as room_service
from chat.access import existing_user, moderated_room, require_admin
from chat.errors import bad_request, not_found
from chat.extensions import db
from chat.models import Ban, Invitation, utcnow
from chat.validation import json_body, string_field, time_field, uuid_field

bp = Blueprint("bans", __name__)


def _ban_terms(body):
    reason = string_field(body, "reason")
    if len(reason) > 1000:
        raise bad_request("'reason' is at most 1000 characters")
    valid_until = time_field(body, "valid_until")
    if valid_until is not None and valid_until <= utcnow():
        raise bad_request("'valid_until' must be in the future")
    return reason, valid_until


@bp.post("/rooms/<uid:room_id>/bans")
def ban_from_room(room_id):
    body = json_body()
    user_id = uuid_field(body, "user")
    room = moderated_room(room_id)
    reason, valid_until = _ban_terms(body)
    target = existing_user(user_id)
    if target.id == g.user.id:
        raise bad_request("You cannot ban yourself")
    db.session.execute(delete(Ban).where(Ban.room_id == room.id, Ban.user_id == target.id))
    db.session.execute(delete(Invitation).where(Invitation.room_id == room.id,
                                                Invitation.user_id == target.id))
    ban = Ban(room_id=room.id, user_id=target.id, reason=reason, valid_until=valid_until)
    db.session.add(ban)
    db.session.commit()
    room_service.remove_member(room, target.id, "banned")
    return ban.to_dict(), 201


@bp.get("/rooms/<uid:room_id>/bans")
def list_room_bans(room_id):
    room = moderated_room(room_id)
    now = utcnow()
    bans = db.session.scalars(select(Ban).where(Ban.room_id == room.id)
                              .order_by(Ban.created_at)).all()
    return [ban.to_dict() for ban in bans if ban.is_active(now)]


@bp.delete("/rooms/<uid:room_id>/bans/<uid:user_id>")
def unban_from_room(room_id, user_id):
    room = moderated_room(room_id)
    removed = db.session.execute(
        delete(Ban).where(Ban.room_id == room.id, Ban.user_id == user_id)).rowcount
    db.session.commit()
    if not removed:
        raise not_found("That user is not banned from this room")
    return "", 204


@bp.post("/users/<uid:user_id>/ban")
def ban_account(user_id):
    require_admin()
    body = json_body()
    reason, valid_until = _ban_terms(body)
    target = existing_user(user_id)
    if target.id == g.user.id:
        raise bad_request("You cannot ban yourself")
    return accounts.ban_account(target, reason, valid_until).to_dict(), 201


@bp.delete("/users/<uid:user_id>/ban")
def unban_account(user_id):
    require_admin()
    removed = db.session.execute(
        delete(Ban).where(Ban.room_id.is_(None), Ban.user_id == user_id)).rowcount
    db.session.commit()
    if not removed:
        raise not_found("That account is not banned")
    return "", 204
