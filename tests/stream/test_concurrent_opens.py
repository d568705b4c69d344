"""Many streams opening at once queue for the database instead of failing: each request
holds at most one pooled connection at a time, so concurrent opens can never take every
connection and wait for each other (which answered 500 after the pool's timeout)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.server import ChatClient


@pytest.fixture(scope="module")
def server_env(server_env):
    # A small pool makes the old deadlock certain: 2 connections + 2 overflow.
    return {**server_env, "DATABASE_POOL_SIZE": "2", "CHAT_MAX_STREAMS_PER_USER": "20"}


def test_forty_streams_opening_at_once_all_get_ready(live_server):
    users = [ChatClient(live_server.api).register() for _ in range(20)]
    callers = users + users  # distinct users (presence) and second streams of the same

    def open_until_ready(client):
        started = time.monotonic()
        with client.subscribe() as sse:
            sse.wait_ready(15)
            return time.monotonic() - started

    with ThreadPoolExecutor(len(callers)) as pool:
        times = list(pool.map(open_until_ready, callers))
    assert max(times) < 8, sorted(times)[-5:]  # the pool timeout is 10 s
    status = requests.get(f"{live_server.api}/healthcheck", timeout=5)
    assert status.status_code == 200
