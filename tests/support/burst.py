"""Helpers of the burst tests (a durable 202 under faults): concurrent posting with retries
of the same id, full history, and reading a stream up to a marker message."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from tests.support.server import ChatClient
from tests.support.sse import SSEClient


class PostLog:
    """What a burst got back: every 202'd id, and a count of each status seen."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.retries = 0
        self.lock = threading.Lock()

    def record(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1


def post_until_accepted(client: ChatClient, room_id: str, text: str, log: PostLog,
                        timeout: float = 30) -> str:
    """POST with a client id; a 503 (which must carry Retry-After) is retried with the same
    id until 202. Any other status fails the test (a 500 above all)."""
    message_id = str(uuid.uuid4())
    deadline = time.monotonic() + timeout
    while True:
        response = client.post(f"/rooms/{room_id}/messages",
                               json={"id": message_id, "message": text})
        log.record(response.status_code)
        if response.status_code == 202:
            assert response.json()["id"] == message_id
            with log.lock:
                log.accepted.append(message_id)
            return message_id
        assert response.status_code == 503, \
            f"POST answered {response.status_code}: {response.text[:300]}"
        assert response.headers.get("Retry-After"), "a 503 without Retry-After"
        assert time.monotonic() < deadline, f"message {message_id} never got its 202"
        with log.lock:
            log.retries += 1
        # Retry-After says 1 s; a test client retries sooner (the same id is always safe).
        time.sleep(0.1)


def burst(posters: list[ChatClient], room_id: str, per_poster: int,
          after_each: Callable[[ChatClient, int], None] | None = None) -> PostLog:
    """Every poster posts ``per_poster`` messages one after another, all posters at once."""
    log = PostLog()

    def run(client: ChatClient) -> None:
        for i in range(per_poster):
            post_until_accepted(client, room_id, f"{client.id[:8]} {i}", log)
            if after_each is not None:
                after_each(client, i)

    with ThreadPoolExecutor(len(posters)) as pool:
        for future in [pool.submit(run, client) for client in posters]:
            future.result()
    return log


def full_history(client: ChatClient, room_id: str) -> list[dict]:
    """Every message of the room, oldest first (paging back with ``before``)."""
    page = client.history(room_id, limit=200)
    out = page
    while len(page) == 200:
        page = client.history(room_id, limit=200, before=page[0]["id"])
        out = page + out
    return out


def messages_until(stream: SSEClient, marker_id: str, room_id: str | None = None,
                   timeout: float = 20) -> list[str]:
    """Ids of the chat messages (of ``room_id``, if given) a stream receives up to the
    marker message, in arrival order; the marker itself is not included."""
    events = stream.events_until(
        lambda e: e.event == "message" and e.json()["id"] == marker_id, timeout)
    return [e.json()["id"] for e in events[:-1]
            if e.event == "message" and (room_id is None or e.json()["room"] == room_id)]
