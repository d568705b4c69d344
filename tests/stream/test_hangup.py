"""A client that goes away is noticed when it hangs up, not at the next keepalive write:
its stream slot is free again at once (API.md: up to 10 streams per user) and presence
goes offline after the grace period (API.md: "a user is online while at least one stream
of theirs is open")."""

from __future__ import annotations

import time

from tests.support.server import ChatClient


def test_hangup_frees_the_stream_slot_long_before_the_next_keepalive(server_factory, stream):
    # One stream allowed, keepalives a minute apart: only hang-up detection can free the
    # slot within the few seconds this test waits.
    server = server_factory({"CHAT_MAX_STREAMS_PER_USER": "1", "CHAT_KEEPALIVE_SECONDS": "60"})
    alice = ChatClient(server.api).register()
    first = alice.subscribe()
    first.wait_ready()
    refused = alice.subscribe()
    assert refused.response.status_code == 429
    refused.close()
    first.close()
    deadline = time.monotonic() + 5
    while stream.open_streams(server.url) != 0:  # waiting for the server to notice
        assert time.monotonic() < deadline, "the hang-up was not noticed"
        time.sleep(0.02)
    with alice.subscribe() as again:
        again.wait_ready()


def test_hangup_starts_the_presence_grace_period_at_once(server_factory, stream):
    server = server_factory({"CHAT_KEEPALIVE_SECONDS": "60"})
    watcher = ChatClient(server.api).register()
    walker = ChatClient(server.api).register()
    room = watcher.create_room()
    walker.join(room["id"])
    with watcher.subscribe() as watch:
        watch.wait_ready()
        walking = walker.subscribe()
        walking.wait_ready()
        stream.named(watch, "presence", user=walker.id, status="online")
        walking.close()
        started = time.monotonic()
        stream.named(watch, "presence", timeout=10, user=walker.id, status="offline")
    # Grace is 1 s in tests; without hang-up detection this would take the 60 s keepalive.
    assert time.monotonic() - started < 5
