"""Migrations on both databases: the whole chain goes up, down and up again, and
migration 0004 carries existing data over (room names that are one name after NFKC and
case folding stay usable; existing messages become searchable)."""

from __future__ import annotations

import uuid

import pytest
from tests.api.core_support import sql
from tests.support.fixtures import TEST_SERVER_ENV
from tests.support.server import create_postgres_database, drop_postgres_database, flask_cli


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'chat.sqlite'}"
        return
    from tests.support.fixtures import require_postgres

    require_postgres()
    url = create_postgres_database("chat_migrations")
    try:
        yield url
    finally:
        drop_postgres_database(url)


def _db(url, *args):
    return flask_cli("db", *args, env={"DATABASE_URL": url, **TEST_SERVER_ENV})


def _id(url, value):
    """How a UUID column holds `value` (SQLite: 32 hex digits, no dashes)."""
    return value.hex if url.startswith("sqlite") else str(value)


def test_the_chain_goes_up_down_and_up_again(empty_database):
    _db(empty_database, "upgrade")
    _db(empty_database, "downgrade", "base")
    _db(empty_database, "upgrade")
    assert sql(empty_database, "SELECT version_num FROM alembic_version") == [("0006",)]


def test_0004_keys_existing_room_names_and_indexes_existing_messages(empty_database):
    url = empty_database
    _db(url, "upgrade", "0003")
    user, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sql(url, "INSERT INTO users (id, name, is_admin, created_at) "
              "VALUES (:id, 'old', false, CURRENT_TIMESTAMP)", id=_id(url, user))
    # Distinct under lower(), one name under NFKC + case folding.
    for room, name in ((first, "straße"), (second, "STRASSE")):
        sql(url, "INSERT INTO rooms (id, name, kind, active, created_at) "
                  "VALUES (:id, :name, 'public', true, CURRENT_TIMESTAMP)",
             id=_id(url, room), name=name)
    sql(url, "UPDATE counters SET value = 1 WHERE name = 'message_seq'")
    sql(url, "INSERT INTO messages (id, seq, room_id, user_id, message, created_at) "
              "VALUES (:id, 1, :room, :user, 'an ancient findable word', CURRENT_TIMESTAMP)",
         id=_id(url, uuid.uuid4()), room=_id(url, first), user=_id(url, user))
    _db(url, "upgrade")

    keys = dict(sql(url, "SELECT name, name_key FROM rooms"))
    assert keys["straße"] == "strasse"
    assert keys["STRASSE"].startswith("strasse#")  # kept apart: both rooms still work
    with pytest.raises(Exception):  # a third spelling of the name is taken
        sql(url, "INSERT INTO rooms (id, name, name_key, kind, active, created_at) "
                  "VALUES (:id, 'Strasse', 'strasse', 'public', true, CURRENT_TIMESTAMP)",
             id=_id(url, uuid.uuid4()))
    if url.startswith("sqlite"):
        found = sql(url, "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'findable'")
    else:
        found = sql(url, "SELECT seq FROM messages "
                          "WHERE search_vector @@ to_tsquery('simple', 'findable')")
    assert found == [(1,)]


def test_0006_numbers_existing_messages_in_each_room_by_seq(empty_database):
    """Messages stored before 0006 get their ordinals: 1, 2, 3, ... per room in seq order,
    deleted ones included, however the rooms' messages interleave."""
    url = empty_database
    _db(url, "upgrade", "0005")
    user = uuid.uuid4()
    sql(url, "INSERT INTO users (id, name, is_admin, created_at) "
              "VALUES (:id, 'old', false, CURRENT_TIMESTAMP)", id=_id(url, user))
    rooms = [uuid.uuid4(), uuid.uuid4()]
    for i, room in enumerate(rooms):
        sql(url, "INSERT INTO rooms (id, name, name_key, kind, active, created_at) "
                  "VALUES (:id, :name, :name, 'public', true, CURRENT_TIMESTAMP)",
             id=_id(url, room), name=f"room{i}")
    # seq 1..6 in rooms 0, 1, 1, 0, 1, 0; seq 4 deleted
    for seq, which in enumerate([0, 1, 1, 0, 1, 0], start=1):
        sql(url, "INSERT INTO messages (id, seq, room_id, user_id, message, created_at, "
                  "deleted_at) VALUES (:id, :seq, :room, :user, 'x', CURRENT_TIMESTAMP, "
                  + ("CURRENT_TIMESTAMP)" if seq == 4 else "NULL)"),
             id=_id(url, uuid.uuid4()), seq=seq, room=_id(url, rooms[which]),
             user=_id(url, user))
    _db(url, "upgrade")
    assert sql(url, "SELECT seq, room_ordinal FROM messages ORDER BY seq") == [
        (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)]
    _db(url, "downgrade", "0005")  # and back: the column goes, the rows stay
    assert sql(url, "SELECT count(*) FROM messages") == [(6,)]
