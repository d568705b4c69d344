"""A connection cut at COMMIT (API.md 1.1, "A 202 is durable"; docs/architecture.md, "The
ordered log"): the server's PostgreSQL connection goes through a proxy that cuts the
processor's COMMITs, some before they reach the database (nothing is stored), some after
the database committed but before its answer is relayed (an ambiguous commit). Every
202'd message is then stored exactly once, every open stream receives every stored
message exactly once and in history order, and no post answers 500."""

from __future__ import annotations

import re
import time
import uuid

import requests

from tests.support.burst import burst, full_history, messages_until
from tests.support.proxy import PostgresCommitCutter, inserts_messages, through_proxy
from tests.support.server import ChatClient

STREAMS = 10
POSTERS = 5
PER_POSTER = 60
CUTS = ["before", "after"] * 4  # four of each kind


def test_commits_cut_before_and_after_the_database_lose_and_repeat_nothing(
        server_factory, pg_database):
    with PostgresCommitCutter() as cutter:
        server = server_factory({
            "DATABASE_URL": through_proxy(pg_database, cutter.port, "sslmode=disable"),
            "CHAT_RATE_LIMIT": "10000/second"})
        clients = [ChatClient(server.api).register() for _ in range(STREAMS)]
        streams = []
        try:
            room = clients[0].create_room()["id"]
            for client in clients[1:]:
                client.join(room)
            streams = [client.subscribe() for client in clients]
            for stream in streams:
                stream.wait_ready()
            # Every third commit of the processor is cut, alternating the two kinds, until
            # all eight cuts have happened (well within the burst's ~60+ commits).
            cutter.plan(CUTS, inserts_messages, every=3)
            started = time.monotonic()
            log = burst(clients[:POSTERS], room, PER_POSTER)
            took = time.monotonic() - started
            assert cutter.done.is_set(), f"only {len(cutter.cuts)} cuts in the burst"
            marker = clients[0].post_message(room, f"marker {uuid.uuid4()}")["id"]
            received = [messages_until(stream, marker, room) for stream in streams]
        finally:
            for stream in streams:
                stream.close()
        history = [m["id"] for m in full_history(clients[0], room)]
        metrics = requests.get(server.api + "/metrics", timeout=5).text
        for client in clients:
            client.close()

    assert log.statuses.keys() <= {202, 503}, log.statuses
    # The cuts reached the processor: each one failed a batch, which it retried.
    assert _metric(metrics, "chat_store_failures_total") >= len(CUTS)
    assert _metric(metrics, "chat_messages_refused_total") == 0
    assert len(log.accepted) == POSTERS * PER_POSTER
    assert history[-1] == marker
    stored = history[:-1]
    assert len(stored) == len(set(stored)), "a message is stored twice"
    assert sorted(stored) == sorted(log.accepted), "history is not exactly the 202'd posts"
    for i, ids in enumerate(received):
        assert ids == stored, f"stream {i} differs from history " \
            f"({len(ids)} received, {len(set(ids))} distinct, {len(stored)} stored)"
    print(f"\n{len(log.accepted)} posts in {took:.2f} s, cuts {[m for m, _ in cutter.cuts]}, "
          f"{cutter.commits} processor commits seen, statuses {dict(log.statuses)}, "
          f"{log.retries} retries after 503")


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_the_proxy_cuts_a_commit_before_or_after_the_database(pg_database):
    """The premise of the test above: a commit cut "before" never happens, one cut
    "after" has happened, and in both cases the client sees only a broken connection;
    for a COMMIT and for a Query of several statements sent in autocommit (how the
    processor stores a batch: one transaction, committed as the database answers it)."""
    import psycopg2

    def commit_cut(url, mode, autocommit):
        conn = psycopg2.connect(url)
        conn.autocommit = autocommit
        try:
            if autocommit:
                conn.cursor().execute("INSERT INTO cut_probe VALUES (%s); "
                                      "INSERT INTO cut_probe VALUES (%s)",
                                      (f"{mode} 1", f"{mode} 2"))
            else:
                conn.cursor().execute("INSERT INTO cut_probe VALUES (%s)", (mode,))
                conn.commit()
        except psycopg2.OperationalError:
            return
        finally:
            conn.close()
        raise AssertionError(f"the {mode} cut did not break the connection")

    with PostgresCommitCutter() as cutter:
        url = through_proxy(pg_database, cutter.port, "sslmode=disable")
        setup = psycopg2.connect(url)
        with setup, setup.cursor() as cur:
            cur.execute("CREATE TABLE cut_probe (mode text)")
        setup.close()
        for autocommit in (False, True):
            cutter.plan(["before", "after"],
                        lambda statements: any("cut_probe" in s for s in statements))
            for mode in ("before", "after"):
                commit_cut(url, mode, autocommit)
            assert cutter.done.is_set()
    direct = psycopg2.connect(pg_database)
    try:
        with direct, direct.cursor() as cur:
            cur.execute("SELECT mode FROM cut_probe ORDER BY mode")
            assert [r[0] for r in cur.fetchall()] == ["after", "after 1", "after 2"]
            cur.execute("DROP TABLE cut_probe")
    finally:
        direct.close()
