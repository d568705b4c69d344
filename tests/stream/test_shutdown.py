"""A worker that is stopping gives no new stream a `ready`: a client reconnecting during the
graceful shutdown gets only `retry:` and an ended response, so it reconnects (keeping its
Last-Event-ID) to a server that is up instead of holding the old one open until it is
killed."""

from __future__ import annotations

import os
import re
import signal

from tests.support.server import ChatClient


def test_a_stopping_worker_answers_new_streams_with_retry_only(server_factory):
    server = server_factory()
    alice = ChatClient(server.api).register()
    # A kept-alive connection: the request below can reach the worker after SIGTERM,
    # when the listening socket is already closed.
    assert alice.get("/healthcheck").status_code == 200
    with alice.subscribe() as first:
        first.wait_ready()
        os.kill(server.pid, signal.SIGTERM)
        assert first.wait_closed(10)  # the hub has begun its shutdown
    late = alice.get(f"/users/{alice.id}/subscribe", stream=True, timeout=10)
    assert late.status_code == 200
    assert late.headers["Content-Type"].startswith("text/event-stream")
    body = late.raw.read()  # the response ends after the retry line
    assert re.fullmatch(rb"retry: (\d+)\n\n", body), body
    assert 1000 <= int(body.split()[1]) <= 5000  # drawn at random per stream
    assert server.proc.wait(30) == 0
