"""Invitations to rooms: create (any member), list mine, accept or decline (the invitee)."""

from flask import Blueprint, g
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from chat import rooms as room_service
from chat.access import (active_room_ban, existing_user, live_room, member_room, membership)
from chat.errors import conflict, forbidden, not_found
from chat.extensions import db
from chat.models import Invitation, Room
from chat.realtime import publish
from chat.validation import json_body, uuid_field

bp = Blueprint("invitations", __name__)


@bp.post("/rooms/<uid:room_id>/invitations")
def create_invitation(room_id):
    body = json_body()
    user_id = uuid_field(body, "user")
    room = member_room(room_id)
    if room.kind == "direct":
        raise forbidden("A direct room has exactly its two members")
    invitee = existing_user(user_id)
    if membership(room.id, invitee.id) is not None:
        raise conflict("That user is already a member")
    if active_room_ban(room.id, invitee.id) is not None:
        raise conflict("That user is banned from this room")
    invitation = Invitation(room_id=room.id, user_id=invitee.id, invited_by=g.user.id)
    db.session.add(invitation)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise conflict("That user is already invited") from None
    publish("invitation", invitation=invitation.to_dict())
    return invitation.to_dict(), 201


@bp.get("/users/me/invitations")
def list_my_invitations():
    invitations = db.session.scalars(
        select(Invitation).join(Room, Room.id == Invitation.room_id)
        .where(Invitation.user_id == g.user.id, Room.active)
        .order_by(Invitation.created_at)).all()
    return [invitation.to_dict() for invitation in invitations]


def _my_invitation(invitation_id):
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise not_found("No such invitation")
    if invitation.user_id != g.user.id:
        raise forbidden("Only the invited user may answer an invitation")
    return invitation


@bp.post("/invitations/<uid:invitation_id>/accept")
def accept_invitation(invitation_id):
    invitation = _my_invitation(invitation_id)
    room = live_room(invitation.room_id)
    if active_room_ban(room.id, g.user.id) is not None:
        raise forbidden("You are banned from this room", code="banned")
    room_service.join(room, g.user.id)  # also removes the invitation
    return "", 204


@bp.post("/invitations/<uid:invitation_id>/decline")
def decline_invitation(invitation_id):
    db.session.delete(_my_invitation(invitation_id))
    db.session.commit()
    return "", 204
