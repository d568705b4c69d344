"""psycopg2 waits cooperatively under gevent (gunicorn.conf.py's post_fork patches it with
psycogreen): a request stuck in a slow database operation does not stop the worker's other
greenlets, so idle streams keep getting their keepalives on time (API.md: "A keepalive
comment `: keepalive` every 15 s (configurable) while idle")."""

from __future__ import annotations

import threading
import time

import psycopg2
import requests

from tests.support.server import unique_name
from tests.support.sse import Comment


def test_streams_keep_their_keepalives_while_a_query_waits(api, live_server, database_url):
    """A signup blocked on a table lock held elsewhere: a subscriber on the same server
    still gets 2 keepalives (1 s apart) within ~3 s, other requests are answered, and the
    signup completes once the lock is released."""
    alice = api()
    alice.leave(alice.general_room()["id"])  # nothing but keepalives on this stream
    blocker = psycopg2.connect(database_url)
    signup: list[requests.Response] = []
    try:
        with alice.subscribe() as sse:
            sse.wait_ready()
            with blocker.cursor() as cur:
                cur.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # kept until rollback
                thread = threading.Thread(target=lambda: signup.append(requests.post(
                    live_server.api + "/users",
                    json={"name": unique_name("blocked"), "password": "password123"},
                    timeout=30)))
                thread.start()
                # Wait (bounded) until the signup's query really waits for our lock.
                deadline = time.monotonic() + 10
                while True:
                    cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                                " AND relation = 'users'::regclass")
                    if cur.fetchone()[0]:
                        break
                    assert time.monotonic() < deadline, "the signup never waited for the lock"
                    time.sleep(0.05)
                blocked_at = time.monotonic()
                keepalives = []
                while len(keepalives) < 2:
                    item = sse.next(max(0.0, blocked_at + 3.2 - time.monotonic()))
                    if isinstance(item, Comment):
                        keepalives.append(time.monotonic() - blocked_at)
                assert keepalives[1] - keepalives[0] < 1.6, keepalives
                health = requests.get(live_server.api + "/healthcheck", timeout=2)
                assert health.status_code == 200  # the database answers other sessions
                assert not signup, "the signup did not wait for the lock"
            blocker.rollback()  # release the lock
            thread.join(10)
            assert signup and signup[0].status_code == 201, signup
            item = sse.next(3)  # the stream is still alive afterwards
            assert isinstance(item, Comment)
    finally:
        blocker.close()
