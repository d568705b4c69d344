"""`flask seed [--demo]` and `flask users make-admin NAME`."""

import secrets
import uuid

import click
from flask import Flask
from sqlalchemy import select

from chat import accounts
from chat.auth import hash_password
from chat.extensions import db
from chat.models import (BOT_USER, GENERAL_ROOM, GHOST_USER, MESSAGE_SEQ, Counter, Membership,
                         Message, Room, User, isoformat, utcnow)
from chat.realtime.batch_store import store_batch
from chat.rooms import general_room

WELCOME = "Welcome to Chatterly! Say hello in #general."
DEMO_USERS = ("alice", "bob", "carol")


def _system_user(name):
    user = accounts.user_by_name(name)
    if user is None:
        user = User(id=uuid.uuid4(), name=name, password_hash=None)
        db.session.add(user)
        db.session.flush()
    return user


def _post_now(user, room, text):
    now = utcnow()
    store_batch(db.engine, [{"id": str(uuid.uuid4()), "user": str(user.id),
                             "room": str(room.id), "message": text,
                             "created_at": isoformat(now), "created_at_dt": now}])


def seed():
    """Idempotent base data: the seq counter, `general`, `chatterly-bot` (with a welcome
    message), `ghost`."""
    if db.session.get(Counter, MESSAGE_SEQ) is None:
        db.session.add(Counter(name=MESSAGE_SEQ, value=0))
    bot = _system_user(BOT_USER)
    _system_user(GHOST_USER)
    general = general_room()
    if general is None:
        general = Room(id=uuid.uuid4(), name=GENERAL_ROOM, kind="public", owner_id=None)
        db.session.add(general)
        db.session.flush()
    if db.session.get(Membership, (general.id, bot.id)) is None:
        db.session.add(Membership(room_id=general.id, user_id=bot.id))
    db.session.commit()
    welcomed = db.session.scalar(select(Message.id).where(
        Message.user_id == bot.id, Message.room_id == general.id).limit(1))
    if welcomed is None:
        _post_now(bot, general, WELCOME)


def seed_demo():
    """Demo users (passwords reset and returned on every run) and a few rooms."""
    passwords = {}
    users = {}
    general = general_room()
    for name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        user = accounts.user_by_name(name)
        if user is None:
            user = accounts.create_user(name, password)
        else:
            user.password_hash = hash_password(password)
            if db.session.get(Membership, (general.id, user.id)) is None:
                db.session.add(Membership(room_id=general.id, user_id=user.id))
        users[name] = user
        passwords[name] = password
    db.session.commit()
    for name, kind, owner, members in (("random", "public", "alice", ("bob",)),
                                       ("secret-club", "private", "alice", ("bob",))):
        if db.session.scalar(select(Room).where(Room.name == name, Room.active)) is None:
            room = Room(id=uuid.uuid4(), name=name, kind=kind, owner_id=users[owner].id)
            db.session.add(room)
            db.session.flush()
            for member in (owner, *members):
                db.session.add(Membership(room_id=room.id, user_id=users[member].id))
            db.session.commit()
            _post_now(users[owner], room, f"This is #{name}. Be nice!")
    return passwords


@click.command("seed")
@click.option("--demo", is_flag=True, help="Also add demo users and rooms.")
def seed_command(demo):
    """Create the base data (idempotent)."""
    seed()
    click.echo("Seeded: general, chatterly-bot, ghost.")
    if demo:
        for name, password in seed_demo().items():
            click.echo(f"demo user {name} / password {password}")


users_cli = click.Group("users", help="Manage accounts.")


@users_cli.command("make-admin")
@click.argument("name")
def make_admin(name):
    """Give NAME admin rights."""
    user = accounts.user_by_name(name)
    if user is None:
        raise click.ClickException(f"No user named {name!r}")
    user.is_admin = True
    db.session.commit()
    click.echo(f"{user.name} is now an admin.")


def init_app(app: Flask):
    app.cli.add_command(seed_command)
    app.cli.add_command(users_cli)
