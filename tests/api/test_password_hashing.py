"""API.md "Authentication" (1.1): "password hashing never blocks other requests or streams
of the same worker". The server hashes in gevent's thread pool; with a deliberately slow
hash (about 1 s each) the worker still answers other requests at once meanwhile."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.support.server import ChatClient, unique_name

SLOW_HASH = "pbkdf2:sha256:4000000"  # ~1 s of CPU per hash on the test machine


def test_other_requests_are_answered_while_passwords_hash(server_factory, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the worker's event loop, the same for every database: run once")
    server = server_factory({"PASSWORD_HASH_METHOD": SLOW_HASH})
    name = unique_name()
    started = time.monotonic()
    ChatClient(server.api).signup(name)
    hash_seconds = time.monotonic() - started
    assert hash_seconds > 0.4, f"the hash is not slow enough to tell ({hash_seconds:.2f}s)"

    answers: list[int] = []

    def sign_in():
        answers.append(requests.post(server.api + "/sessions", timeout=60,
                                     json={"name": name, "password": "password123"})
                       .status_code)

    threads = [threading.Thread(target=sign_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # both sign-ins are hashing now
    slowest = 0.0
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        assert requests.get(server.api + "/healthcheck", timeout=30).status_code == 200
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert answers == [201, 201]
    # On the event loop, a health check would wait for a whole hash (≥ hash_seconds).
    assert slowest < hash_seconds / 2, (slowest, hash_seconds)
