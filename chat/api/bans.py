"""Room bans (owner or admin) and account bans (admin). Expiry needs no job: every check
compares `valid_until` with the current time."""

from flask import Blueprint, g
from sqlalchemy import delete, select

from chat import accounts, rooms as room_service
from chat.access import existing_user, moderated_room, require_admin
from chat.api.openapi import operation
from chat.api.rooms import ROOM_404
from chat.errors import bad_request, not_found
from chat.extensions import db
from chat.models import Ban, Invitation, utcnow
from chat.schemas import (AccountBan, BanTarget, BanTerms, RoomBan, RoomBanCreate,
                          parse_body)
from chat.validation import json_body

bp = Blueprint("bans", __name__)


def _ban_terms(body):
    terms = parse_body(BanTerms, body)
    if terms.valid_until is not None and terms.valid_until <= utcnow():
        raise bad_request("'valid_until' must be in the future")
    return terms.reason, terms.valid_until


def _ban_target(user_id):
    target = existing_user(user_id)
    if target.id == g.user.id:
        raise bad_request("You cannot ban yourself")
    return target


@bp.post("/rooms/<uid:room_id>/bans")
@operation("banFromRoom", "bans", "Ban a user from a room (owner or admin)",
           description="Removes the user from the room; until `valid_until` they cannot "
                       "join, post or read it.",
           body=RoomBanCreate,
           ok={201: (RoomBan, "The ban.")},
           errors={400: "Also: banning yourself, or a `valid_until` in the past.",
                   403: "Neither the owner nor an admin.",
                   404: ROOM_404 + " Also no such user."})
def ban_from_room(room_id):
    body = json_body()
    user_id = parse_body(BanTarget, body).user  # the terms are read after the permission
    room = moderated_room(room_id)
    reason, valid_until = _ban_terms(body)
    target = _ban_target(user_id)
    db.session.execute(delete(Ban).where(Ban.room_id == room.id, Ban.user_id == target.id))
    db.session.execute(delete(Invitation).where(Invitation.room_id == room.id,
                                                Invitation.user_id == target.id))
    ban = Ban(room_id=room.id, user_id=target.id, reason=reason, valid_until=valid_until)
    db.session.add(ban)
    db.session.commit()
    room_service.remove_member(room, target.id, "banned")
    return ban.to_dict(), 201


@bp.get("/rooms/<uid:room_id>/bans")
@operation("listRoomBans", "bans", "Bans of a room (owner or admin)",
           ok={200: ([RoomBan], "The room's bans.")},
           errors={403: "Neither the owner nor an admin.", 404: ROOM_404})
def list_room_bans(room_id):
    room = moderated_room(room_id)
    now = utcnow()
    bans = db.session.scalars(select(Ban).where(Ban.room_id == room.id)
                              .order_by(Ban.created_at)).all()
    return [ban.to_dict() for ban in bans if ban.is_active(now)]


@bp.delete("/rooms/<uid:room_id>/bans/<uid:user_id>")
@operation("unbanFromRoom", "bans", "Lift a room ban (owner or admin)",
           ok={204: (None, "Lifted.")},
           errors={403: "Neither the owner nor an admin.",
                   404: ROOM_404 + " Also: no active ban of this user here."})
def unban_from_room(room_id, user_id):
    room = moderated_room(room_id)
    removed = db.session.execute(
        delete(Ban).where(Ban.room_id == room.id, Ban.user_id == user_id)).rowcount
    db.session.commit()
    if not removed:
        raise not_found("That user is not banned from this room")
    return "", 204


@bp.post("/users/<uid:user_id>/ban")
@operation("banAccount", "bans", "Ban an account (admin)",
           description="A banned user's sessions and streams end; login answers "
                       "`403 banned` until `valid_until`.",
           body=BanTerms,
           ok={201: (AccountBan, "The global ban.")},
           errors={400: "Also: banning yourself, or a `valid_until` in the past.",
                   403: "The caller is not an admin.", 404: "No such user."})
def ban_account(user_id):
    require_admin()
    body = json_body()
    reason, valid_until = _ban_terms(body)
    target = _ban_target(user_id)
    return accounts.ban_account(target, reason, valid_until).to_dict(), 201


@bp.delete("/users/<uid:user_id>/ban")
@operation("unbanAccount", "bans", "Lift an account ban (admin)",
           ok={204: (None, "Lifted.")},
           errors={403: "The caller is not an admin.",
                   404: "No such user, or no active account ban."})
def unban_account(user_id):
    require_admin()
    removed = db.session.execute(
        delete(Ban).where(Ban.room_id.is_(None), Ban.user_id == user_id)).rowcount
    db.session.commit()
    if not removed:
        raise not_found("That account is not banned")
    return "", 204
