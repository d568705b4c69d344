"""The room list's unread counts, computed from room ordinals (migration 0006), equal a
plain count of others' live messages after the read marker, on both databases, whatever
mix of batches, already-stored ids, other entries of the log, deletions and read markers
came before.

The writes go through `store_batch` (the one place that numbers messages: in one SQL
statement on PostgreSQL, step by step on SQLite) against a real migrated database; the counts come from `rooms_with_unread`, which the
room list serves."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from sqlalchemy import func, select, update

from chat import create_app
from chat.extensions import db
from chat.models import Membership, Message
from chat.realtime.order import allocate
from chat.realtime.batch_store import store_batch
from chat.rooms import rooms_with_unread
from tests.support.fixtures import require_postgres
from tests.support.server import create_postgres_database, drop_postgres_database, migrate

PASSWORD = "password123"
ENV = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    """(app, reader id, the other two users' ids, three room ids all three are in)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('unread') / 'chat.sqlite'}"
    else:
        require_postgres()
        url = create_postgres_database("chat_unread")
    migrate({"DATABASE_URL": url, **ENV})
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, **ENV})
    client = app.test_client()
    users, headers = [], []
    for name in ("reader", "writer_a", "writer_b"):
        assert client.post("/v1/chats/users", json={"name": name, "password": PASSWORD}
                           ).status_code == 201
        body = client.post("/v1/chats/sessions",
                           json={"name": name, "password": PASSWORD}).get_json()
        users.append(body["user"]["id"])
        headers.append({"Authorization": f"Bearer {body['token']}"})
    rooms = []
    for i in range(3):
        room = client.post("/v1/chats/rooms", json={"name": f"unread-{i}"},
                           headers=headers[0]).get_json()
        for user, auth in zip(users[1:], headers[1:]):
            assert client.post(f"/v1/chats/rooms/{room['id']}/users",
                               json={"chat_user": user}, headers=auth).status_code == 204
        rooms.append(room["id"])
    try:
        yield app, users[0], users[1:], rooms
    finally:
        app.extensions["realtime"].shutdown(timeout=10)
        with app.app_context():
            db.engine.dispose()
        if request.param == "postgres":
            drop_postgres_database(url)


def _message(user, room):
    return {"id": str(uuid.uuid4()), "user": user, "room": room, "message": "hello",
            "reply_to": None, "mentions": [],
            "created_at": "2026-01-01T00:00:00.000000Z",
            "created_at_dt": datetime.now(timezone.utc)}


# One step: ("batch", [(author, room, repeat an earlier message?), ...]), ("place", n),
# ("delete", k) or ("mark", k) — k picks among the messages stored so far. "place" is a
# membership change taking n places in the log.
AUTHORS = st.integers(0, 2)  # 0 is the reader
BATCH = st.lists(st.tuples(AUTHORS, st.integers(0, 2), st.booleans()), min_size=1, max_size=6)
STEPS = st.lists(st.one_of(
    st.tuples(st.just("batch"), BATCH),
    st.tuples(st.just("place"), st.integers(1, 3)),
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("mark"), st.integers(0, 10_000))), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
# Two rooms in one batch, then each alone: each room counts on from its own newest.
@example(steps=[("batch", [(1, 0, False), (2, 1, False)]), ("batch", [(1, 0, False)]),
                ("batch", [(2, 1, False)])])
# An already-stored id between new ones takes no ordinal: the room's next one follows.
@example(steps=[("batch", [(1, 0, False)]),
                ("batch", [(1, 0, False), (1, 0, True), (2, 0, False)]),
                ("batch", [(2, 0, False)])])
# An entry of another kind takes a place but numbers nothing.
@example(steps=[("batch", [(1, 0, False)]), ("place", 1), ("batch", [(1, 0, False)])])
def test_unread_counts_equal_a_plain_count(world, steps):
    app, reader, writers, rooms = world
    authors = [reader, *writers]
    with app.app_context():
        stored = []  # message dicts, in the order they were stored
        for kind, arg in steps:
            if kind == "place":
                with db.engine.begin() as conn:
                    allocate(conn, arg)
            elif kind == "batch":
                batch = []
                for author, room, repeat in arg:
                    if repeat and stored:  # an id stored before (retry, twin worker)
                        batch.append(stored[(author + room) % len(stored)])
                    else:
                        batch.append(_message(authors[author], rooms[room]))
                batch = list({m["id"]: m for m in batch}.values())  # the queue is unique
                result = store_batch(db.engine, batch)
                new = {entry["id"] for entry in result.new}
                assert new | {entry["id"] for entry in result.earlier} == {
                    m["id"] for m in batch}
                stored.extend(m for m in batch if m["id"] in new)
            elif stored:
                target = uuid.UUID(stored[arg % len(stored)]["id"])
                if kind == "delete":
                    db.session.execute(update(Message).where(Message.id == target)
                                       .values(deleted_at=func.now()))
                else:
                    message = db.session.get(Message, target)
                    db.session.execute(
                        update(Membership)
                        .where(Membership.room_id == message.room_id,
                               Membership.user_id == uuid.UUID(reader),
                               (Membership.last_read_seq.is_(None))
                               | (Membership.last_read_seq < message.seq))
                        .values(last_read_seq=message.seq, last_read_id=message.id))
                db.session.commit()

        listed = {room["id"]: room["unread_count"] for room in rooms_with_unread(
            uuid.UUID(reader))}
        for room in rooms:
            marker = db.session.scalar(select(Membership.last_read_seq).where(
                Membership.room_id == uuid.UUID(room), Membership.user_id == uuid.UUID(reader)))
            expected = db.session.scalar(select(func.count()).where(
                Message.room_id == uuid.UUID(room), Message.deleted_at.is_(None),
                Message.user_id != uuid.UUID(reader), Message.seq > (marker or 0)))
            assert listed[room] == expected, (room, steps)
        # The ordinals of each room are 1..n in seq order, without gaps.
        for room in rooms:
            ordinals = db.session.scalars(select(Message.room_ordinal).where(
                Message.room_id == uuid.UUID(room)).order_by(Message.seq)).all()
            assert ordinals == list(range(1, len(ordinals) + 1))
        db.session.remove()
