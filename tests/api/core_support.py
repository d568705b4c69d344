"""Small helpers shared by the core API tests (tests/api/test_*.py of the core scope)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import create_engine, text

from chat.config import database_url as normalize_url
from tests.support.server import ChatClient, unique_name
from tests.support.sse import SSEClient

USER_FIELDS = {"id", "name", "api_user", "created_at"}
ROOM_FIELDS = {"id", "name", "kind", "owner", "created_at"}
MESSAGE_FIELDS = {"id", "user", "room", "message", "created_at", "reply_to", "edited_at",
                  "mentions", "reactions"}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def unique_room_name() -> str:
    return unique_name("room")


def parse_time(value: str) -> datetime:
    """An RFC 3339 UTC timestamp with a Z suffix, as API.md requires."""
    assert isinstance(value, str) and RFC3339_UTC.match(value), value
    return datetime.fromisoformat(value[:-1] + "+00:00").astimezone(timezone.utc)


def assert_user(user: dict, **expected: Any) -> None:
    assert set(user) == USER_FIELDS, user
    assert UUID_RE.match(user["id"]), user
    parse_time(user["created_at"])
    for key, value in expected.items():
        assert user[key] == value, (key, user)


def assert_room(room: dict, **expected: Any) -> None:
    """A Room; a direct room also carries `peer` (the other member, a User)."""
    if room.get("kind") == "direct":
        assert set(room) == ROOM_FIELDS | {"peer"}, room
        assert_user(room["peer"])
    else:
        assert set(room) == ROOM_FIELDS, room
    assert UUID_RE.match(room["id"]), room
    assert room["kind"] in ("public", "private", "direct"), room
    parse_time(room["created_at"])
    for key, value in expected.items():
        assert room[key] == value, (key, room)


def assert_message(msg: dict, /, **expected: Any) -> None:
    assert set(msg) == MESSAGE_FIELDS, msg
    assert UUID_RE.match(msg["id"]), msg
    parse_time(msg["created_at"])
    assert msg["edited_at"] is None or parse_time(msg["edited_at"])
    assert isinstance(msg["mentions"], list) and isinstance(msg["reactions"], list), msg
    for key, value in expected.items():
        assert msg[key] == value, (key, msg)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` (bounded) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def full_history(client: ChatClient, room_id: str) -> list[dict]:
    """Every stored message of a room, oldest first, walking pages of 200 backwards."""
    page = client.history(room_id, limit=200)
    out = list(page)
    while len(page) == 200:
        page = client.history(room_id, limit=200, before=out[0]["id"])
        out[:0] = page
    return out


def wait_stored(client: ChatClient, room_id: str, ids: Iterable[str],
                timeout: float = 20.0) -> list[dict]:
    """Wait (bounded) until all ``ids`` are in the room's history; return the history."""
    wanted = set(ids)

    def check():
        history = full_history(client, room_id)
        return history if wanted <= {m["id"] for m in history} else None

    return wait_for(check, timeout, f"{len(wanted)} messages stored")


def chat_events_until(sse: SSEClient, ids: Iterable[str], timeout: float = 20.0) -> list[dict]:
    """Collect the chat messages (unnamed events) of ``sse`` until every id in ``ids`` was
    seen; returns all chat messages received meanwhile, in arrival order."""
    wanted = set(ids)
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while not wanted <= {m["id"] for m in seen}:
        event = sse.next_event(max(0.0, deadline - time.monotonic()))
        if event.event == "message":
            message = event.json()
            assert event.id == message["id"] and event.has_id_field, event
            seen.append(message)
    return seen


def sql(database_url: str, statement: str, **params: Any) -> list[tuple]:
    """Run one SQL statement on the test database (outside the server), committed."""
    # The server's own URL normalisation (postgresql:// -> the psycopg2 driver).
    engine = create_engine(normalize_url({"DATABASE_URL": database_url}, "."))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()
