"""Account life cycle: sign-up, deletion (messages go to `ghost`), account bans."""

import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from chat.auth import hash_password
from chat.errors import conflict
from chat.extensions import db
from chat.models import GHOST_USER, Ban, Membership, Message, Room, Session, User
from chat.realtime import publish
from chat.realtime.order import commit_changes
from chat.rooms import general_room, remove_member


def create_user(name, password, api_user=None):
    """A new account, already a member of `general`."""
    user = User(id=uuid.uuid4(), name=name, api_user=api_user,
                password_hash=hash_password(password))
    general = general_room()
    db.session.add(user)
    try:
        db.session.flush()  # the user row first: the membership references it
        if general is not None:
            db.session.add(Membership(room_id=general.id, user_id=user.id))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise conflict("This name is taken", code="name_taken") from None
    commit_changes([("membership", general.id, user.id, "joined")] if general else [])
    return user


def user_by_name(name):
    return db.session.scalar(select(User).where(func.lower(User.name) == name.lower()))


def end_sessions(user_id, reason):
    db.session.execute(delete(Session).where(Session.user_id == user_id))
    db.session.commit()
    publish("close", user=str(user_id), session=None, reason=reason)


def delete_user(user):
    """Moves the user's messages to `ghost`, leaves every room (telling its members),
    ends sessions and streams, then removes the account."""
    ghost = user_by_name(GHOST_USER)
    user_id = user.id
    rooms = db.session.scalars(select(Room).join(Membership, Membership.room_id == Room.id)
                               .where(Membership.user_id == user_id)).all()
    for room in rooms:
        remove_member(room, user_id, "left")
    end_sessions(user_id, "account deleted")
    db.session.execute(update(Message).where(Message.user_id == user_id)
                       .values(user_id=ghost.id))
    db.session.execute(update(Room).where(Room.owner_id == user_id).values(owner_id=None))
    db.session.execute(delete(User).where(User.id == user_id))
    db.session.commit()


def ban_account(user, reason, valid_until):
    """An account ban (replacing any earlier one); ends every session and stream."""
    db.session.execute(delete(Ban).where(Ban.user_id == user.id, Ban.room_id.is_(None)))
    ban = Ban(user_id=user.id, room_id=None, reason=reason, valid_until=valid_until)
    db.session.add(ban)
    db.session.commit()
    end_sessions(user.id, "account banned")
    return ban
