"""Event-stream tests (API.md, "The event stream"): PostgreSQL only, except where a module
overrides ``database_url`` again (test_framing.py runs on both backends as a smoke test).

Helpers shared by the modules are fixtures here, so test files import nothing from it.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.support.sse import Event


@pytest.fixture(scope="module")
def database_url(request):
    return request.getfixturevalue("pg_database")


def is_chat_message(event: Event) -> bool:
    return event.event == "message"


class Helpers:
    """Small stream-reading helpers (a fixture, see ``stream``)."""

    @staticmethod
    def next_message(sse, timeout: float = 5.0) -> Event:
        """The next chat message event, skipping named events and comments."""
        deadline = time.monotonic() + timeout
        while True:
            event = sse.next_event(deadline - time.monotonic())
            if is_chat_message(event):
                return event

    @classmethod
    def messages(cls, sse, count: int, timeout: float = 10.0) -> list[Event]:
        """The next ``count`` chat message events."""
        deadline = time.monotonic() + timeout
        return [cls.next_message(sse, deadline - time.monotonic()) for _ in range(count)]

    @staticmethod
    def named(sse, name: str, timeout: float = 5.0, **fields) -> Event:
        """Events up to the first named ``name`` whose JSON data has ``fields``; returns it."""
        def match(event: Event) -> bool:
            if event.event != name:
                return False
            data = event.json()
            return all(data.get(k) == v for k, v in fields.items())
        return sse.events_until(match, timeout)[-1]

    @staticmethod
    def wait_stored(client, room_id: str, message_id: str, timeout: float = 5.0) -> None:
        """Waits until an accepted (202) message is stored: it shows in history."""
        deadline = time.monotonic() + timeout
        while message_id not in {m["id"] for m in client.history(room_id, limit=20)}:
            assert time.monotonic() < deadline, f"message {message_id} was never stored"
            time.sleep(0.02)

    @staticmethod
    def open_streams(server_url: str) -> float:
        """The server's ``chat_open_streams`` gauge (one worker without a broker)."""
        text = requests.get(server_url + "/v1/chats/metrics", timeout=5).text
        match = re.search(r"^chat_open_streams (\S+)$", text, re.M)
        assert match, text
        return float(match.group(1))


@pytest.fixture
def stream():
    return Helpers
