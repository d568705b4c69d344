"""Invitations to rooms: create (any member), list mine, accept or decline (the invitee)."""

from flask import Blueprint, g
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from chat import rooms as room_service
from chat.access import (active_room_ban, existing_user, live_room, member_room, membership)
from chat.api.openapi import operation
from chat.api.rooms import ROOM_404
from chat.errors import conflict, forbidden, not_found
from chat.extensions import db
from chat.models import Invitation, Room
from chat.realtime import publish
from chat.schemas import Invitation as InvitationModel, InvitationCreate, parse_body
from chat.validation import json_body

bp = Blueprint("invitations", __name__)


@bp.post("/rooms/<uid:room_id>/invitations")
@operation("inviteToRoom", "invitations", "Invite a user",
           description="Any member may invite. The invitee gets `event: invitation`.",
           body=InvitationCreate,
           ok={201: (InvitationModel, "The invitation.")},
           links={201: {"Accept": ("acceptInvitation", {"id": "$response.body#/id"}),
                        "Decline": ("declineInvitation", {"id": "$response.body#/id"})}},
           errors={403: "The caller is not a member (`not_member`) or is banned (`banned`), "
                        "or the room does not take invitations (direct).",
                   404: ROOM_404 + " Also no such user to invite.",
                   409: ("The user is already a member, already invited, or banned from "
                         "the room.", ["conflict"])})
def create_invitation(room_id):
    user_id = parse_body(InvitationCreate, json_body()).user
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
@operation("listMyInvitations", "invitations", "The caller's pending invitations",
           ok={200: ([InvitationModel], "Pending invitations.")})
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
@operation("acceptInvitation", "invitations", "Accept an invitation",
           description="Joins the room. Only the invitee.",
           ok={204: (None, "Done.")},
           errors={403: "The caller is not the invitee, or (accept) is banned from the room "
                        "(`banned`).",
                   404: "No such pending invitation, or its room is gone."})
def accept_invitation(invitation_id):
    invitation = _my_invitation(invitation_id)
    room = live_room(invitation.room_id)
    if active_room_ban(room.id, g.user.id) is not None:
        raise forbidden("You are banned from this room", code="banned")
    room_service.join(room, g.user.id)  # also removes the invitation
    return "", 204


@bp.post("/invitations/<uid:invitation_id>/decline")
@operation("declineInvitation", "invitations", "Decline an invitation",
           description="Discards the invitation. Only the invitee.",
           ok={204: (None, "Done.")},
           errors={403: "The caller is not the invitee, or (accept) is banned from the room "
                        "(`banned`).",
                   404: "No such pending invitation, or its room is gone."})
def decline_invitation(invitation_id):
    db.session.delete(_my_invitation(invitation_id))
    db.session.commit()
    return "", 204
