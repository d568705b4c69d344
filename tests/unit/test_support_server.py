"""The test-support helpers themselves: ports, names, scratch databases, the subprocess
runner and the SSE client, against PostgreSQL and a tiny fake app under real gunicorn."""

from __future__ import annotations

import os
import re
import signal
import socket
import textwrap
import time
from pathlib import Path

import pytest
import requests

from tests.support.server import (
    ChatClient,
    ServerProcess,
    create_postgres_database,
    drop_postgres_database,
    flask_cli,
    free_port,
    merged_env,
    migrate,
    postgres_available,
    process_group_alive,
    unique_name,
)
from tests.support.sse import Comment, Event, Retry, SSEClient, StreamClosed


def test_free_port_is_bindable():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_unique_name_valid_and_unique():
    names = {unique_name("alice") for _ in range(100)}
    assert len(names) == 100
    for name in names | {unique_name("x" * 40), unique_name()}:
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", name), name


def test_merged_env_overrides_and_removes(monkeypatch):
    monkeypatch.setenv("SUPPORT_TEST_A", "1")
    monkeypatch.setenv("SUPPORT_TEST_B", "2")
    env = merged_env({"SUPPORT_TEST_A": "x", "SUPPORT_TEST_B": None, "SUPPORT_TEST_C": "3"})
    assert env["SUPPORT_TEST_A"] == "x" and "SUPPORT_TEST_B" not in env
    assert env["SUPPORT_TEST_C"] == "3" and env["PATH"] == os.environ["PATH"]


# -- PostgreSQL ------------------------------------------------------------------------------

needs_postgres = pytest.mark.skipif(
    not postgres_available() and os.environ.get("CI", "").lower() != "true",
    reason="PostgreSQL is not reachable")


@needs_postgres
def test_create_and_drop_postgres_database():
    import psycopg2

    url = create_postgres_database()
    name = url.rsplit("/", 1)[1]
    assert url.startswith("postgresql://") and name.startswith("chat_test_")
    conn = psycopg2.connect(url)  # still open when dropping: must be terminated, not block
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (x int)")
    conn.commit()
    drop_postgres_database(url)
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=5).close()
    conn.close()
    drop_postgres_database(url)  # idempotent


@needs_postgres
def test_databases_are_distinct():
    a, b = create_postgres_database(), create_postgres_database()
    try:
        assert a != b
    finally:
        drop_postgres_database(a)
        drop_postgres_database(b)


# -- A fake app under real gunicorn ----------------------------------------------------------

FAKE_WSGI = '''
import json, os, time
import click
from flask import Flask, Response, request

app = Flask(__name__)
MARKS = os.environ.get("FAKE_MARK_DIR", ".")

@app.get("/v1/chats/healthcheck")
def health():
    return {"status": "ok"}

@app.get("/v1/chats/users/<uid>/subscribe")
def subscribe(uid):
    if uid == "forbidden":
        return {"error": {"code": "forbidden", "message": "no"}}, 403
    tag, auth = request.headers.get("X-Tag", "x"), request.headers.get("Authorization", "")
    last = request.headers.get("Last-Event-ID")

    def stream():
        try:
            yield "retry: 1500\\n" + "event: ready\\ndata: " + json.dumps(
                {"auth": auth, "last": last}) + "\\n\\n"
            # One message split over three writes, the CRLF itself split.
            yield "id: m1\\r\\ndata: hel"
            time.sleep(0.05)
            yield "lo\\r"
            time.sleep(0.05)
            yield "\\n\\r\\n"
            if uid == "finite":
                yield "event: bye\\ndata: {}\\n\\n"
                return
            while True:
                time.sleep(0.1)
                yield ": keepalive\\n\\n"
        finally:
            with open(os.path.join(MARKS, tag), "w") as f:
                f.write("closed")

    return Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

@app.cli.command("seed")
def seed():
    if os.environ.get("FAKE_SEED_FAIL"):
        raise click.ClickException("seed exploded")
    click.echo("seeded " + os.environ.get("DATABASE_URL", "?"))

@app.cli.group("db")
def db():
    pass

@db.command("upgrade")
def upgrade():
    click.echo("upgraded")
'''

FAKE_GUNICORN_CONF = '''
import os
bind = "127.0.0.1:" + os.environ["PORT"]
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
graceful_timeout = 3
'''


@pytest.fixture(scope="module")
def fake_app(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake_app")
    (root / "wsgi.py").write_text(textwrap.dedent(FAKE_WSGI))
    (root / "gunicorn.conf.py").write_text(textwrap.dedent(FAKE_GUNICORN_CONF))
    (root / "marks").mkdir()
    return root


@pytest.fixture(scope="module")
def fake_server(fake_app):
    server = ServerProcess(None, {"FAKE_MARK_DIR": str(fake_app / "marks")}, cwd=fake_app)
    with server:
        yield server


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_flask_cli_and_migrate(fake_app):
    assert "upgraded" in flask_cli("db", "upgrade", cwd=fake_app)
    out = migrate({"DATABASE_URL": "sqlite://"}, cwd=fake_app)
    assert "upgraded" in out and "seeded sqlite://" in out
    with pytest.raises(RuntimeError, match="seed exploded"):
        migrate({"FAKE_SEED_FAIL": "1"}, cwd=fake_app)


def test_server_process_serves_and_logs(fake_server):
    assert fake_server.running and fake_server.api == fake_server.url + "/v1/chats"
    assert requests.get(fake_server.api + "/healthcheck", timeout=5).json() == {"status": "ok"}
    assert "Booting worker" in fake_server.log_text()
    assert (fake_server.log_path.parent / "gunicorn.ctl").exists()


def test_sse_client_reads_events_incrementally(fake_server, fake_app):
    url = fake_server.api + "/users/u1/subscribe"
    with SSEClient(url, {"Authorization": "Bearer t0k", "X-Tag": "inc",
                         "Last-Event-ID": "m0"}) as sse:
        assert sse.response.status_code == 200
        assert sse.response.headers["Content-Type"].startswith("text/event-stream")
        assert sse.next(5) == Retry(1500)
        ready = sse.wait_ready()
        assert ready.json() == {"auth": "Bearer t0k", "last": "m0"} and not ready.has_id_field
        assert sse.next_event(5) == Event("message", "hello", "m1", True)
        assert sse.next(5) == Comment("keepalive")
        assert sse.next_event(5, skip_comments=False) == Comment("keepalive")
        with pytest.raises(TimeoutError):
            sse.next_event(0.3)  # only keepalives keep coming
        assert len(sse.comments) >= 3 and sse.retry == 1500
        assert not sse.ended
    # close() must reach the server: its generator's finally writes the mark.
    wait_for(lambda: (fake_app / "marks" / "inc").exists())
    assert sse.ended and not sse.closed_by_server and sse.error is None
    with pytest.raises(StreamClosed):
        sse.next(1)


def test_sse_client_sees_server_close(fake_server):
    with SSEClient(fake_server.api + "/users/finite/subscribe") as sse:
        assert sse.wait_closed(5)
        assert sse.closed_by_server
        events = sse.events_until(lambda e: e.event == "bye", timeout=1)  # still queued
        assert [e.event for e in events] == ["ready", "message", "bye"]
        with pytest.raises(StreamClosed):
            sse.next(1)


def test_sse_client_collect_and_events_until_timeout(fake_server):
    with SSEClient(fake_server.api + "/users/u2/subscribe") as sse:
        assert [e.data for e in sse.collect(0.5)][1:] == ["hello"]
        with pytest.raises(TimeoutError):
            sse.events_until(lambda e: False, timeout=0.3)


def test_sse_client_error_status(fake_server):
    with SSEClient(fake_server.api + "/users/forbidden/subscribe") as sse:
        assert sse.response.status_code == 403
        assert sse.response.json()["error"]["code"] == "forbidden"
        assert sse.ended
        with pytest.raises(StreamClosed):
            sse.next(1)


def test_chat_client_paths_and_subscribe_headers(fake_server):
    client = ChatClient(fake_server)
    assert client.get("/healthcheck").status_code == 200
    client.token, client.user = "abc", {"id": "u3"}
    with client.subscribe("m9", headers={"X-Tag": "cc"}) as sse:
        assert sse.wait_ready().json() == {"auth": "Bearer abc", "last": "m9"}


def test_terminate_restart_and_kill(fake_app):
    server = ServerProcess(None, {"WEB_CONCURRENCY": "2"}, cwd=fake_app).start()
    port = server.port
    assert server.terminate() == 0 and not server.running
    server.start()  # same port, log appended
    assert server.port == port and server.log_text().count("Booting worker") >= 4
    pgid = server.pid
    server.kill()
    assert not server.running
    assert not process_group_alive(pgid)  # the workers went too


def test_start_failure_reports_log(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(FAKE_GUNICORN_CONF)
    (tmp_path / "wsgi.py").write_text("raise ImportError('broken app module')\n")
    with pytest.raises(RuntimeError, match="(?s)exited.*broken app module"):
        ServerProcess(None, cwd=tmp_path).start(timeout=20)


def test_sigterm_during_open_stream_ends_it(fake_app):
    server = ServerProcess(None, {"FAKE_MARK_DIR": str(fake_app / "marks")},
                           cwd=fake_app).start()
    with SSEClient(server.api + "/users/u4/subscribe", {"X-Tag": "term"}) as sse:
        sse.wait_ready()
        server.proc.send_signal(signal.SIGTERM)
        assert sse.wait_closed(15) and sse.closed_by_server
    server.proc.wait(15)
    server.kill()
