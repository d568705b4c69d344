"""chat/realtime/batch_store.py on both databases: a batch is all or nothing (on
PostgreSQL its places and rows go in one Query, so a refused row must undo the counter's
UPDATE too), and text that looks like SQL or like the statement's own placeholders is
stored as it was written."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import exc, func, select

from chat import create_app
from chat.extensions import db
from chat.models import Mention, Message
from chat.realtime.batch_store import store_batch
from chat.realtime.order import committed_seq
from tests.support.fixtures import require_postgres
from tests.support.server import create_postgres_database, drop_postgres_database, migrate

ENV = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    """(app, two user ids, a room id both are in)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('batch') / 'chat.sqlite'}"
    else:
        require_postgres()
        url = create_postgres_database("chat_batch")
    migrate({"DATABASE_URL": url, **ENV})
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, **ENV})
    client = app.test_client()
    users, headers = [], []
    for name in ("batch_a", "batch_b"):
        account = {"name": name, "password": "password123"}
        assert client.post("/v1/chats/users", json=account).status_code == 201
        body = client.post("/v1/chats/sessions", json=account).get_json()
        users.append(body["user"]["id"])
        headers.append({"Authorization": f"Bearer {body['token']}"})
    room = client.post("/v1/chats/rooms", json={"name": "batches"}, headers=headers[0]).get_json()
    assert client.post(f"/v1/chats/rooms/{room['id']}/users", json={"chat_user": users[1]},
                       headers=headers[1]).status_code == 204
    try:
        yield app, users, room["id"]
    finally:
        app.extensions["realtime"].shutdown(timeout=10)
        with app.app_context():
            db.engine.dispose()
        if request.param == "postgres":
            drop_postgres_database(url)


def _message(user, room, text="hello", mentions=(), reply_to=None):
    now = datetime.now(timezone.utc)
    return {"id": str(uuid.uuid4()), "user": user, "room": room, "message": text,
            "reply_to": reply_to, "mentions": list(mentions),
            "created_at": now.isoformat(), "created_at_dt": now}


def _counts(room):
    return (committed_seq(db.session),
            db.session.scalar(select(func.count()).select_from(Message)
                              .where(Message.room_id == uuid.UUID(room))),
            db.session.scalar(select(func.count()).select_from(Mention)))


TRICKY = ["100% sure", "%s and %(count)s and %(id0)s", "'); DELETE FROM messages; --",
          "a;\nUPDATE counters SET value = 0;", "$$ dollar $$ quoted", "::uuid"]


def test_text_that_looks_like_sql_or_placeholders_is_stored_verbatim(world):
    app, (alice, bob), room = world
    with app.app_context():
        before = _counts(room)
        first = _message(alice, room, "first")
        batch = [first, *(_message(alice, room, text, mentions=[bob], reply_to=first["id"])
                          for text in TRICKY)]
        stored = store_batch(db.engine, batch)
        assert [entry["id"] for entry in stored.new] == [m["id"] for m in batch]
        assert [entry["seq"] for entry in stored.new] == list(range(stored.first,
                                                                    stored.last + 1))
        rows = {str(row.id): row for row in db.session.scalars(
            select(Message).where(Message.id.in_([uuid.UUID(m["id"]) for m in batch])))}
        for message in batch:
            row = rows[message["id"]]
            assert row.message == message["message"]
            assert (str(row.reply_to) if row.reply_to else None) == message["reply_to"]
        assert _counts(room) == (before[0] + len(batch), before[1] + len(batch),
                                 before[2] + len(TRICKY))
        db.session.remove()


def test_a_refused_batch_stores_nothing_and_takes_no_places(world):
    """A row the database refuses (here: an author that does not exist) fails the whole
    batch, counter included; the processor then splits it (tests/unit)."""
    app, (alice, bob), room = world
    with app.app_context():
        before = _counts(room)
        batch = [_message(alice, room, mentions=[bob]),
                 _message(str(uuid.uuid4()), room), _message(bob, room)]
        with pytest.raises(exc.IntegrityError):
            store_batch(db.engine, batch)
        assert _counts(room) == before
        # The connection went back to the pool usable: the next batch is stored.
        stored = store_batch(db.engine, [batch[0], batch[2]])
        assert len(stored.new) == 2 and stored.first == before[0] + 1
        db.session.remove()
