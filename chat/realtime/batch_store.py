"""Storing a batch of accepted messages (the processor's one write): a single transaction
that takes the batch's places in the order (order.py), numbers each message in its room
(`room_ordinal`, after the newest stored one), and inserts the messages and their
mentions. An id that is already stored (a retry after an ambiguous commit; the same id
posted to two workers) is not stored again: the stored row is returned among `earlier`,
and takes no ordinal.

On PostgreSQL the transaction is one round trip: the counter UPDATE and one INSERT ...
SELECT statement (with the mentions in a data-modifying CTE) sent together on an
autocommit connection, which PostgreSQL runs as one implicit transaction. The UPDATE locks
the counter row first, and in READ COMMITTED the next statement's snapshot is taken after
that: it sees every message committed before this batch and none can commit meanwhile
(every writer of messages takes that lock), so the ordinals it computes are exact. Three
or four round trips (UPDATE, INSERT, mentions, COMMIT) cost a worker more CPU than the
rest of a batch: on this loopback each is ~85 µs of system time plus a gevent wait
(docs/benchmarks.md, section 11). SQLite, in process, takes the same steps one statement
at a time.
"""

import functools
import uuid

from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from chat.extensions import autocommit_connection
from chat.models import MESSAGE_SEQ, Mention, Message
from chat.realtime import order


class StoredBatch:
    """The result of one transaction: places first..last; `new` entries stored by it,
    `earlier` ones whose id was already stored; `by_id` all of them by message id."""

    def __init__(self, first, last, new, earlier):
        self.first, self.last, self.new, self.earlier = first, last, new, earlier
        self.by_id = {entry["id"]: entry for entry in (*new, *earlier)}


def store_batch(engine, batch):
    """One transaction: take len(batch) places, insert, commit. `batch` holds message
    dicts (id, user, room, message, reply_to, mentions, created_at_dt, ...), each id once.
    Returns a StoredBatch."""
    store = _store_postgres if engine.dialect.name == "postgresql" else _store_stepwise
    first, inserted = store(engine, batch)  # the ids stored now (UUIDs)
    ids = [uuid.UUID(m["id"]) for m in batch]
    new = []
    for seq, message, message_id in zip(range(first, first + len(batch)), batch, ids):
        if message_id in inserted:
            entry = {k: v for k, v in message.items() if k != "created_at_dt"}
            entry.update(kind="message", seq=seq)
            new.append(entry)
    missing = [message_id for message_id in ids if message_id not in inserted]
    return StoredBatch(first, first + len(batch) - 1, new, _stored(engine, missing))


# -- PostgreSQL: one round trip -------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _postgres_statement(rows, mentions):
    """The batch's SQL for `rows` messages and `mentions` mentions (their placeholders)."""
    values = ", ".join(
        f"(%(k{i})s, %(id{i})s::uuid, %(room{i})s::uuid, %(user{i})s::uuid, %(text{i})s,"
        f" %(reply{i})s::uuid, %(at{i})s::timestamptz)" for i in range(rows))
    mentioned = ""
    if mentions:
        named = ", ".join(f"(%(mm{j})s::uuid, %(mu{j})s::uuid, %(mp{j})s::integer)"
                          for j in range(mentions))
        mentioned = f""",
mentioned AS (
    INSERT INTO mentions (message_id, user_id, room_id, seq, position)
    SELECT stored.id, named.user_id, stored.room_id, stored.seq, named.position
    FROM stored JOIN (VALUES {named}) AS named (message_id, user_id, position)
        ON named.message_id = stored.id)"""
    return f"""\
UPDATE counters SET value = value + %(count)s WHERE name = %(counter)s;
WITH batch (k, id, room_id, user_id, message, reply_to, created_at) AS (VALUES {values}),
places AS (SELECT value - %(count)s AS before FROM counters WHERE name = %(counter)s),
new AS (
    SELECT batch.*, places.before + batch.k AS seq FROM batch, places
    WHERE NOT EXISTS (SELECT 1 FROM messages WHERE messages.id = batch.id)),
stored AS (
    INSERT INTO messages (id, seq, room_id, room_ordinal, user_id, message, created_at,
                          reply_to)
    SELECT id, seq, room_id,
           coalesce((SELECT newest.room_ordinal FROM messages AS newest
                     WHERE newest.room_id = new.room_id
                     ORDER BY newest.seq DESC LIMIT 1), 0)
               + row_number() OVER (PARTITION BY room_id ORDER BY seq),
           user_id, message, created_at, reply_to
    FROM new
    ON CONFLICT (id) DO NOTHING
    RETURNING id, seq, room_id){mentioned}
SELECT places.before, stored.id FROM places LEFT JOIN stored ON true"""


def _store_postgres(engine, batch):
    params = {"count": len(batch), "counter": MESSAGE_SEQ}
    mentions = []
    for i, m in enumerate(batch):
        params.update({f"k{i}": i + 1, f"id{i}": m["id"], f"room{i}": m["room"],
                       f"user{i}": m["user"], f"text{i}": m["message"],
                       f"reply{i}": m.get("reply_to"), f"at{i}": m["created_at_dt"]})
        mentions.extend((m["id"], user, position)
                        for position, user in enumerate(m.get("mentions", ())))
    for j, (message_id, user, position) in enumerate(mentions):
        params.update({f"mm{j}": message_id, f"mu{j}": user, f"mp{j}": position})
    with autocommit_connection(engine) as connection:
        rows = connection.exec_driver_sql(
            _postgres_statement(len(batch), len(mentions)), params).all()
    return rows[0].before + 1, {uuid.UUID(str(row.id)) for row in rows if row.id is not None}


# -- SQLite: the same steps, one statement at a time -------------------------------------------

_INSERT_MESSAGES = (sqlite.insert(Message).on_conflict_do_nothing(index_elements=["id"])
                    .returning(Message.id))
_INSERT_MENTIONS = sqlite.insert(Mention)


def _store_stepwise(engine, batch):
    rows = [{
        "id": uuid.UUID(m["id"]), "room_id": uuid.UUID(m["room"]),
        "user_id": uuid.UUID(m["user"]), "message": m["message"],
        "reply_to": uuid.UUID(m["reply_to"]) if m.get("reply_to") else None,
        "created_at": m["created_at_dt"],
    } for m in batch]  # built before the transaction: the counter row is locked in it
    with engine.begin() as conn:
        first = order.allocate(conn, len(batch))
        for seq, row in enumerate(rows, start=first):
            row["seq"] = seq
        # As on PostgreSQL: ids already stored are skipped before numbering, so they take
        # no ordinal (the counter's lock keeps anyone from storing them meanwhile).
        stored = set(conn.scalars(select(Message.id).where(
            Message.id.in_([row["id"] for row in rows]))))
        new = [row for row in rows if row["id"] not in stored]
        inserted = set()
        if new:
            order.number_in_rooms(conn, new)
            inserted = set(conn.execute(_INSERT_MESSAGES, new).scalars())
        mentions = [{"message_id": row["id"], "user_id": uuid.UUID(user),
                     "room_id": row["room_id"], "seq": row["seq"], "position": position}
                    for row, message in zip(rows, batch) if row["id"] in inserted
                    for position, user in enumerate(message.get("mentions", ()))]
        if mentions:
            conn.execute(_INSERT_MENTIONS, mentions)
    return first, inserted


def _stored(engine, message_ids):
    """The log entries of messages already stored under these ids, in order."""
    if not message_ids:
        return []
    with engine.connect() as conn:
        found = [Message(**row._mapping) for row in conn.execute(
            select(Message.__table__).where(Message.id.in_(message_ids)).order_by(Message.seq))]
        return order.message_entries(conn, found)
