"""The refused path over HTTP (API.md 1.1, "A 202 is durable"; chat/realtime/processor.py):
a message whose row the database refuses answers 409, never 202 nor 500, and the other
posts of the same concurrent burst (some sharing its batch) are stored and delivered.

The database refuses for real: a trigger of this module's own scratch database raises for
any message text containing a marker (PL/pgSQL RAISE on PostgreSQL, RAISE(ABORT) on
SQLite). Runs on both backends."""

from __future__ import annotations

import re
import shutil
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests

from tests.support.burst import full_history, messages_until
from tests.support.server import ChatClient

MARKER = "REFUSE-THIS-ROW"
POSTERS, PER_POSTER = 4, 20

PG_TRIGGER = f"""
CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.message LIKE '%{MARKER}%' THEN
    RAISE EXCEPTION 'refused by the test trigger';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_marked BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION refuse_marked();
"""
SQLITE_TRIGGER = f"""
CREATE TRIGGER refuse_marked BEFORE INSERT ON messages
WHEN NEW.message LIKE '%{MARKER}%'
BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request, tmp_path_factory):
    """A scratch database of each backend (copied from the migrated template) with the
    refusing trigger installed."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
        conn = psycopg2.connect(url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(PG_TRIGGER)
        finally:
            conn.close()
        return url
    path = tmp_path_factory.mktemp("db") / "chat.sqlite"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SQLITE_TRIGGER)
    finally:
        conn.close()
    return f"sqlite:///{path}"


def test_a_refused_row_answers_409_and_the_rest_of_the_burst_is_stored(server_factory):
    server = server_factory({"CHAT_RATE_LIMIT": "10000/second"})
    clients = [ChatClient(server.api).register() for _ in range(POSTERS)]
    room = clients[0].create_room()["id"]
    for client in clients[1:]:
        client.join(room)

    def post_all(client):
        out = []
        for i in range(PER_POSTER):
            refused = i % 5 == 2
            text = f"{client.id[:8]} {i}" + (f" {MARKER}" if refused else "")
            message_id = str(uuid.uuid4())
            response = client.post(f"/rooms/{room}/messages",
                                   json={"id": message_id, "message": text})
            out.append((message_id, refused, response.status_code, response.json()))
        return out

    with clients[0].subscribe() as stream:
        stream.wait_ready()
        with ThreadPoolExecutor(POSTERS) as pool:
            results = [r for rs in pool.map(post_all, clients) for r in rs]
        marker = clients[0].post_message(room, "after the burst")["id"]
        received = messages_until(stream, marker, room)

    wrong = [(refused, status, body) for _, refused, status, body in results
             if status != (409 if refused else 202)]
    assert not wrong, wrong[:5]
    assert {body["error"]["code"] for _, refused, _, body in results if refused} == {"conflict"}
    accepted = [mid for mid, refused, _, _ in results if not refused]
    refused_ids = [mid for mid, refused, _, _ in results if refused]
    history = [m["id"] for m in full_history(clients[0], room)]
    assert history[-1] == marker
    assert sorted(history[:-1]) == sorted(accepted)
    assert received == history[:-1]
    for mid in refused_ids[:3]:  # a refused message is not there, nor pending
        assert clients[1].get(f"/rooms/{room}/messages/{mid}").status_code == 404
    metrics = requests.get(server.api + "/metrics", timeout=5).text
    refused_total = re.search(r"^chat_messages_refused_total (\S+)$", metrics, re.M)
    assert refused_total and float(refused_total.group(1)) == len(refused_ids)
    for client in clients:
        client.close()
