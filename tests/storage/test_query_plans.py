"""Every query the hot read paths run has an index behind it on PostgreSQL.

The requests run in-process against a migrated PostgreSQL database while every statement
is recorded; each recorded SELECT is then EXPLAINed with sequential scans disabled, so
that a plan that still scans a table has no index it could use instead. (On a table this
small the planner would pick a scan anyway; with scans priced out, only a missing index
leaves one in the plan.)"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, text

from chat import create_app
from chat.extensions import db
from tests.support.fixtures import require_postgres
from tests.support.server import create_postgres_database, drop_postgres_database, migrate

PASSWORD = "password123"


@pytest.fixture(scope="module")
def app():
    require_postgres()
    url = create_postgres_database("chat_plans")
    migrate({"DATABASE_URL": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    app = create_app({"SQLALCHEMY_DATABASE_URI": url,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    try:
        yield app
    finally:
        app.extensions["realtime"].shutdown(timeout=10)
        with app.app_context():
            db.engine.dispose()
        drop_postgres_database(url)


def _sign_up(client, name):
    assert client.post("/v1/chats/users", json={"name": name, "password": PASSWORD}
                       ).status_code == 201
    answer = client.post("/v1/chats/sessions", json={"name": name, "password": PASSWORD})
    body = answer.get_json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['token']}"}


def test_hot_read_paths_have_an_index_behind_every_query(app):
    client = app.test_client()
    alice, as_alice = _sign_up(client, "plan_alice")
    bob, as_bob = _sign_up(client, "plan_bob")
    room = client.post("/v1/chats/rooms", json={"name": "plans"}, headers=as_alice).get_json()
    assert client.post(f"/v1/chats/rooms/{room['id']}/users", json={"chat_user": bob},
                       headers=as_bob).status_code == 204
    posted = [client.post(f"/v1/chats/rooms/{room['id']}/messages", headers=as_alice,
                          json={"message": f"hello @plan_bob number {i}"}).get_json()
              for i in range(5)]
    client.put(f"/v1/chats/rooms/{room['id']}/messages/{posted[0]['id']}/reactions/%F0%9F%91%8D",
               headers=as_bob)
    client.put(f"/v1/chats/rooms/{room['id']}/read", json={"message": posted[1]["id"]},
               headers=as_bob)
    base = f"/v1/chats/rooms/{room['id']}/messages"
    reads = [f"/v1/chats/users/{bob}/rooms", "/v1/chats/rooms", base,
             f"{base}?before={posted[3]['id']}", f"{base}?after={posted[1]['id']}",
             f"{base}/{posted[2]['id']}", f"/v1/chats/rooms/{room['id']}/users",
             "/v1/chats/users/me", "/v1/chats/search/messages?q=hello%20numb",
             f"/v1/chats/search/messages?q=number&room={room['id']}"]

    statements = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in reads:
            answer = client.get(path, headers=as_bob)
            assert answer.status_code == 200, (path, answer.get_data(as_text=True))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) >= len(reads)

    scans = []
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        for statement, parameters in statements:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                "EXPLAIN " + statement, parameters))
            for table in re.findall(r"Seq Scan on (\w+)", plan):
                if table not in ("counters",):  # one row per counter name
                    scans.append((table, statement.split("FROM", 1)[-1][:160]))
    assert not scans, "queries without an index: " + "; ".join(map(str, scans))


def _plans(app, client, headers, paths):
    """The EXPLAIN of every SELECT the GETs of `paths` run (sequential and bitmap scans
    priced out, so that the plan shows which index each query can walk)."""
    statements = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in paths:
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.get_data(as_text=True))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        conn.execute(text("SET enable_bitmapscan = off"))
        return [(statement, "\n".join(row[0] for row in conn.exec_driver_sql(
            "EXPLAIN " + statement, parameters))) for statement, parameters in statements]


def _node(plan, index):
    """The plan node that walks `index` with the lines under it up to the next node."""
    lines = plan.splitlines()
    for i, line in enumerate(lines):
        if f"using {index} on" in line:
            rest = [lines[i]]
            for follower in lines[i + 1:]:
                if "->" in follower or "SubPlan" in follower:
                    break
                rest.append(follower)
            return "\n".join(rest)
    raise AssertionError(f"{index} is not used:\n{plan}")


def test_room_list_counts_walk_index_ranges_from_the_read_marker(app):
    """unread_count costs no range over the unread messages (ordinals, migration 0006);
    what it subtracts and mention_count are index ranges that start at the read marker."""
    client = app.test_client()
    alice, as_alice = _sign_up(client, "plan_carol")
    bob, as_bob = _sign_up(client, "plan_dave")
    room = client.post("/v1/chats/rooms", json={"name": "plans-counts"},
                       headers=as_alice).get_json()
    assert client.post(f"/v1/chats/rooms/{room['id']}/users", json={"chat_user": bob},
                       headers=as_bob).status_code == 204
    posted = [client.post(f"/v1/chats/rooms/{room['id']}/messages", headers=as_alice,
                          json={"message": f"hi @plan_dave {i}"}).get_json()
              for i in range(3)]
    client.put(f"/v1/chats/rooms/{room['id']}/read", json={"message": posted[0]["id"]},
               headers=as_bob)
    listed = client.get(f"/v1/chats/users/{bob}/rooms", headers=as_bob).get_json()
    counts = {r["id"]: (r["unread_count"], r["mention_count"]) for r in listed}
    assert counts[room["id"]] == (2, 2)

    [(_, plan)] = [(s, p) for s, p in _plans(app, client, as_bob,
                                              [f"/v1/chats/users/{bob}/rooms"])
                   if "count(" in s]
    # No range over the unread messages themselves: the room's newest ordinal and the
    # marker's are one index entry each ...
    assert "ix_messages_live_room_seq" not in plan, plan
    assert "Index Scan Backward" in _node(plan, "ix_messages_room_seq"), plan
    assert "Index Cond: (seq = memberships.last_read_seq)" in _node(plan, "uq_messages_seq")
    # ... and what is not unread after the marker (own, others' deleted) are ranges of
    # their own indexes that start at the marker.
    own = _node(plan, "ix_messages_user_room_seq")
    assert "Index Only Scan" in own, plan
    assert re.search(r"Index Cond: .*room_id = memberships.room_id.*seq > COALESCE", own), plan
    deleted = _node(plan, "ix_messages_deleted_room_seq")
    assert re.search(r"Index Cond: .*seq > COALESCE", deleted), plan
    mentions = _node(plan, "ix_mentions_user_room_seq")
    assert re.search(r"Index Cond: .*seq > COALESCE", mentions), plan


def test_history_pages_walk_the_room_by_seq(app):
    """Newest, `before` and `after` pages: one index range of the room's live messages
    from the cursor on, no filtering of other rooms' rows."""
    client = app.test_client()
    _, as_erin = _sign_up(client, "plan_erin")
    room = client.post("/v1/chats/rooms", json={"name": "plans-history"},
                       headers=as_erin).get_json()
    posted = [client.post(f"/v1/chats/rooms/{room['id']}/messages", headers=as_erin,
                          json={"message": f"page {i}"}).get_json() for i in range(4)]
    base = f"/v1/chats/rooms/{room['id']}/messages?limit=2"
    for path, bound in ((base, None), (f"{base}&before={posted[3]['id']}", "seq <"),
                        (f"{base}&after={posted[0]['id']}", "seq >")):
        [(_, plan)] = [(s, p) for s, p in _plans(app, client, as_erin, [path])
                       if "ORDER BY messages.seq" in s and "LIMIT" in s]
        node = _node(plan, "ix_messages_live_room_seq")
        assert "Index Cond: " in node and "room_id =" in node, plan
        if bound:
            assert bound in node.split("Index Cond: ", 1)[1].splitlines()[0], plan
        assert "Filter" not in node, plan


def test_the_batch_store_numbers_and_dedupes_by_index(app):
    """The processor's one statement per batch (chat/realtime/batch_store.py) finds each
    room's newest ordinal by walking ix_messages_room_seq backwards and each stored id
    by the primary key, never scanning messages: it runs with the counter row locked."""
    import uuid
    from datetime import datetime, timezone

    from chat.realtime.batch_store import _postgres_statement

    with app.app_context():
        engine = db.engine
    _update, insert = _postgres_statement(2, 1).split(";\n", 1)
    rooms = [str(uuid.uuid4()), str(uuid.uuid4())]
    params = {"count": 2, "counter": "message_seq", "mm0": str(uuid.uuid4()),
              "mu0": str(uuid.uuid4()), "mp0": 0}
    for i in range(2):
        params.update({f"k{i}": i + 1, f"id{i}": str(uuid.uuid4()), f"room{i}": rooms[i],
                       f"user{i}": str(uuid.uuid4()), f"text{i}": "hello",
                       f"reply{i}": None, f"at{i}": datetime.now(timezone.utc)})
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + insert, params))
    assert "Seq Scan on messages" not in plan, plan
    assert "Index Scan Backward using ix_messages_room_seq on messages" in plan, plan
    assert "using pk_messages on messages" in plan, plan
