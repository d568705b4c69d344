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
