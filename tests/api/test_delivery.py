"""API.md "Messages" and the delivery guarantees under load: concurrent posters (every
202 stored once, history order = stream order), a graceful SIGTERM right after a burst
(nothing accepted is lost), the per-user rate limit (429 + Retry-After) and a full backlog
(503 + Retry-After, never an unbounded wait)."""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.api.core_support import (
    assert_message,
    chat_events_until,
    wait_for,
    wait_stored,
)
from tests.support.checks import assert_error
from tests.support.server import ChatClient

POSTERS, PER_POSTER = 8, 25


@pytest.fixture(scope="module")
def server_env(server_env):
    # These tests post as fast as they can; the rate limit has its own test below.
    return {**server_env, "CHAT_RATE_LIMIT": "100000/second"}


def _after(client, room_id, marker_id):
    """Every stored message after ``marker_id``, oldest first (walking `after` pages)."""
    out = []
    cursor = marker_id
    while True:
        page = client.history(room_id, after=cursor, limit=200)
        if not page:
            return out
        out += page
        cursor = page[-1]["id"]


def test_concurrent_posters_every_message_once_in_one_order(api):
    """8 users post 25 messages each at the same time: every 202'd message is stored
    exactly once, and every stream (a silent member's and a poster's) delivers them in
    history's order."""
    listener = api()
    posters = [api() for _ in range(POSTERS)]
    room = listener.create_room()
    for poster in posters:
        poster.join(room["id"])
    streams = [listener.subscribe(), posters[0].subscribe()]
    try:
        for stream in streams:
            stream.wait_ready()
        marker = listener.post_message(room["id"], "start")
        accepted: list[list[dict]] = [[] for _ in posters]
        errors: list[BaseException] = []
        start = threading.Barrier(POSTERS)

        def post_all(index):
            try:
                start.wait(10)
                for i in range(PER_POSTER):
                    accepted[index].append(
                        posters[index].post_message(room["id"], f"p{index} m{i}"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=post_all, args=(i,)) for i in range(POSTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        end = listener.post_message(room["id"], "end")
        all_ids = [m["id"] for batch in accepted for m in batch]
        assert len(all_ids) == len(set(all_ids)) == POSTERS * PER_POSTER
        delivered = [chat_events_until(stream, [marker["id"], end["id"]], timeout=30)
                     for stream in streams]
    finally:
        for stream in streams:
            stream.close()

    history = _after(listener, room["id"], marker["id"])
    assert history[-1]["id"] == end["id"]
    burst = history[:-1]
    assert sorted(m["id"] for m in burst) == sorted(all_ids)  # each exactly once
    by_id = {m["id"]: m for batch in accepted for m in batch}
    for message in burst:
        assert message == by_id[message["id"]]  # stored as answered with the 202
    # Each poster's own messages keep their order: each was posted after the previous
    # one's 202 (one worker here, one queue).
    for index in range(POSTERS):
        mine = [m["id"] for m in burst if m["user"] == posters[index].id]
        assert mine == [m["id"] for m in accepted[index]]
    for events in delivered:
        assert events[0]["id"] == marker["id"]
        assert events[1:] == history  # same messages, same order, no duplicates


def test_sigterm_after_a_burst_loses_nothing(server_factory):
    """SIGTERM (graceful stop) right after ~300 accepted posts, while posting goes on:
    after a restart every 202'd message is in history exactly once."""
    server = server_factory()
    owner = ChatClient(server.api).register()
    posters = [ChatClient(server.api).register() for _ in range(4)]
    room = owner.create_room()
    for poster in posters:
        poster.join(room["id"])
    marker = owner.post_message(room["id"], "before the burst")
    accepted: list[dict] = []
    lock = threading.Lock()
    refusals: list[str] = []

    def hammer(client, index):
        for i in range(10_000):
            try:
                response = client.post(f"/rooms/{room['id']}/messages",
                                       json={"message": f"t{index} #{i}"}, timeout=30)
            except requests.RequestException as exc:
                refusals.append(type(exc).__name__)
                return
            if response.status_code != 202:
                refusals.append(str(response.status_code))
                return
            with lock:
                accepted.append(response.json())

    threads = [threading.Thread(target=hammer, args=(c, i), daemon=True)
               for i, c in enumerate(posters)]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: len(accepted) >= 300, 60, "300 accepted posts")
        assert server.terminate(timeout=60) == 0
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        # Every poster was stopped by a 503 (intake closed) or a refused connection.
        assert len(refusals) == len(posters), refusals
        assert all(r == "503" or not r.isdigit() for r in refusals), refusals
        server.start()
        stored = _after(owner, room["id"], marker["id"])
        ids = [m["id"] for m in stored]
        assert len(ids) == len(set(ids)), "a message was stored twice"
        by_id = {m["id"]: m for m in stored}
        missing = [m for m in accepted if m["id"] not in by_id]
        assert not missing, f"{len(missing)} of {len(accepted)} accepted messages lost"
        assert all(by_id[m["id"]] == m for m in accepted)
        # Anything else stored can only be a post whose 202 was lost with its connection.
        assert len(ids) - len(accepted) <= sum(not r.isdigit() for r in refusals)
    finally:
        for client in (owner, *posters):
            client.close()
        server.kill()  # checked already: skip a second graceful stop's wait


def test_rate_limit_answers_429_with_retry_after(server_factory, database_url):
    """Over CHAT_RATE_LIMIT posts: 429 rate_limited with a Retry-After; the refused post
    is not stored; other users have their own budget."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the limiter keeps no state in the database: run once (SQLite)")
    server = server_factory({"CHAT_RATE_LIMIT": "5/minute"})
    me = ChatClient(server.api).register()
    other = ChatClient(server.api).register()
    try:
        room = me.create_room()
        other.join(room["id"])
        posted = [me.post_message(room["id"], f"ok {i}") for i in range(5)]
        response = me.post(f"/rooms/{room['id']}/messages", json={"message": "one too many"})
        assert_error(response, 429, "rate_limited")
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert_error(me.post(f"/rooms/{room['id']}/messages", json={"message": "again"}),
                     429, "rate_limited")
        theirs = other.post_message(room["id"], "my own budget")
        history = wait_stored(me, room["id"], [m["id"] for m in posted] + [theirs["id"]])
        assert [m["message"] for m in history] == [f"ok {i}" for i in range(5)] + \
            ["my own budget"]
    finally:
        me.close()
        other.close()
        server.kill()  # nothing left to check: skip the graceful stop's wait


def _psycopg2_dsn(database_url):
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def test_full_backlog_answers_503_and_keeps_what_it_accepted(server_factory, database_url):
    """A 202 is durable: with the database stalled, a post waits for its commit at most
    CHAT_ACCEPT_TIMEOUT_SECONDS, then answers 503 overloaded with Retry-After (the
    message stays queued); with CHAT_QUEUE_SIZE messages waiting, further posts get 503
    at once. Once the database moves again every queued message is stored, once, in
    order, and a retry with the same id answers 202 with the stored original (409 for
    another user)."""
    if not database_url.startswith("postgres"):
        pytest.skip("SQLite: a writer blocked on the file lock blocks the whole gevent "
                    "worker (the driver waits in C), so a stalled store cannot be staged "
                    "while the server keeps answering; covered on PostgreSQL")
    import psycopg2

    server = server_factory({"CHAT_QUEUE_SIZE": "3", "CHAT_ACCEPT_TIMEOUT_SECONDS": "0.3"})
    me = ChatClient(server.api).register()
    other = ChatClient(server.api).register()
    room = me.create_room()
    other.join(room["id"])
    path = f"/rooms/{room['id']}/messages"
    blocker = psycopg2.connect(_psycopg2_dsn(database_url))
    locked = True
    try:
        with blocker.cursor() as cur:  # psycopg2 opens a transaction: the lock stays
            cur.execute("LOCK TABLE counters IN ACCESS EXCLUSIVE MODE")
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for i, message_id in enumerate(ids):
            response = me.post(path, json={"message": f"queued {i}", "id": message_id})
            assert_error(response, 503, "overloaded")
            assert int(response.headers["Retry-After"]) >= 1
        for client in (me, other):
            started = time.monotonic()
            response = client.post(path, json={"message": "no room left"})
            assert time.monotonic() - started < 0.3  # refused at once: the queue is full
            assert_error(response, 503, "overloaded")
        blocker.rollback()
        locked = False
        stored = wait_stored(me, room["id"], ids)
        assert [m["message"] for m in stored] == ["queued 0", "queued 1", "queued 2"]
        again = me.post(path, json={"message": "queued 0 (retry)", "id": ids[0]})
        assert again.status_code == 202 and again.json() == stored[0]
        assert_error(other.post(path, json={"message": "hijack", "id": ids[0]}),
                     409, "conflict")
        after = me.post_message(room["id"], "room again")
        assert_message(after, user=me.id, room=room["id"])
        assert me.history(room["id"]) == stored + [after]  # stored before the 202
    finally:
        if locked:
            blocker.rollback()
        blocker.close()
        me.close()
        other.close()
        if not locked:
            server.kill()  # everything is stored and checked: skip the graceful wait


def test_database_outage_loses_nothing_accepted(server_factory, database_url):
    """Accepted work is never lost when the database goes away: the processor keeps its
    batch and retries with backoff; meanwhile requests that need the database answer 503
    (never 500) and the healthcheck names the database; once it is back, every 202'd
    message is stored once, in order."""
    if not database_url.startswith("postgres"):
        pytest.skip("stages an outage with PostgreSQL's ALLOW_CONNECTIONS")
    import psycopg2

    from tests.support.server import POSTGRES_ADMIN_URL

    # Remembered sessions outlive the test (see the "now?" post below).
    server = server_factory({"CHAT_ACCEPT_TIMEOUT_SECONDS": "0.3",
                             "CHAT_ACCESS_MEMORY_SECONDS": "300"})
    me = ChatClient(server.api).register()
    room = me.create_room()
    name = urlsplit(database_url).path.lstrip("/")
    blocker = psycopg2.connect(_psycopg2_dsn(database_url))
    admin = psycopg2.connect(POSTGRES_ADMIN_URL)
    admin.autocommit = True
    outage = False
    try:
        # Hold the processor at its first batch so the messages are queued when the
        # database goes away, then take the database away (the blocker goes too).
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE counters IN ACCESS EXCLUSIVE MODE")
        accepted = []
        for i in range(10):  # queued; each answers 503 when its commit does not come
            text = f"before the outage {i}"
            assert_error(me.post(f"/rooms/{room['id']}/messages", json={"message": text}),
                         503, "overloaded")
            accepted.append(text)
        with admin.cursor() as cur:
            outage = True
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        def unhealthy():
            response = me.get("/healthcheck")
            return response.json() if response.status_code == 503 else None

        health = wait_for(unhealthy, 10, "the healthcheck to notice")
        assert health["database"] != "ok" and health["status"] != "ok"
        # The session and membership are remembered (chat/realtime/access_memory.py), so this post
        # is queued like the ones before it: 503 when its commit does not come in time,
        # stored once the database is back.
        assert_error(me.post(f"/rooms/{room['id']}/messages", json={"message": "now?"}),
                     503, "overloaded")
        accepted.append("now?")
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        outage = False

        def stored():
            response = me.get(f"/rooms/{room['id']}/messages")  # may 503 once: stale pool
            return response.json() if response.status_code == 200 and \
                len(response.json()) >= len(accepted) else None

        history = wait_for(stored, 30, "the queued messages to be stored")
        assert [m["message"] for m in history] == accepted
    finally:
        if outage:
            with admin.cursor() as cur:
                cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        for connection in (blocker, admin):
            connection.close()
        me.close()
