"""Event framing and access (API.md, "The event stream"). The smoke module of the folder:
it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import time
import uuid

import pytest
import requests

from tests.support.sse import Comment, Event, Retry

from tests.api.core_support import MESSAGE_FIELDS


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request, tmp_path_factory):
    """Both backends here (the folder's conftest.py keeps the others on PostgreSQL)."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_database")
    path = tmp_path_factory.mktemp("db") / "chat.sqlite"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


def my_room_ids(client) -> set[str]:
    response = client.get(f"/users/{client.id}/rooms")
    assert response.status_code == 200, response.text
    return {room["id"] for room in response.json()}


def test_headers_then_retry_then_ready_with_exactly_my_rooms(api):
    """200 text/event-stream, no-cache, X-Accel-Buffering: no; first `retry:`, then
    `event: ready` {user, rooms} listing exactly the caller's rooms."""
    alice, bob = api(), api()
    mine = alice.create_room()
    private = alice.create_room(kind="private")
    joined = bob.create_room()
    alice.join(joined["id"])
    bob.create_room()  # public, but alice is not in it
    with alice.subscribe() as sse:
        response = sse.response
        assert response.status_code == 200
        assert response.headers["Content-Type"].split(";")[0].strip() == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        first = sse.next(5)
        assert isinstance(first, Retry) and first.ms > 0, first
        ready = sse.next(5)
        assert isinstance(ready, Event) and ready.event == "ready", ready
        assert not ready.has_id_field and ready.id is None
        data = ready.json()
        assert set(data) == {"user", "rooms"}
        assert data["user"] == alice.id
        assert len(data["rooms"]) == len(set(data["rooms"]))
        assert set(data["rooms"]) == my_room_ids(alice)
        assert {mine["id"], private["id"], joined["id"], alice.general_room()["id"]} \
            == set(data["rooms"])


def test_chat_message_framing(api, live_server):
    """A chat message: `id:` = message id, no `event:` line (type "message"), JSON data with
    exactly id, user, room, message, created_at - as the 202 answer described it."""
    alice = api()
    room = alice.create_room()
    text = "Hello \u00e9\u00e8 \U0001F600 \"quoted\"\nsecond line"
    # Read the raw bytes too, to see the framing itself, not just what a parser makes of it.
    raw = requests.get(f"{live_server.api}/users/{alice.id}/subscribe",
                       headers={**alice.auth_header, "Accept": "text/event-stream"},
                       stream=True, timeout=(5, 10))
    try:
        buffer = b""
        while b"event: ready" not in buffer:
            buffer += raw.raw.read1(65536)
        with alice.subscribe() as sse:
            sse.wait_ready()
            posted = alice.post_message(room["id"], text)
            event = sse.next_event(5)
        while f"id: {posted['id']}".encode() not in buffer or not buffer.endswith(b"\n\n"):
            buffer += raw.raw.read1(65536)
    finally:
        raw.close()
    assert event.event == "message" and event.has_id_field
    assert event.id == posted["id"]
    data = event.json()
    assert set(data) == MESSAGE_FIELDS
    assert data == posted
    assert data["message"] == text and data["user"] == alice.id and data["room"] == room["id"]
    block = buffer[buffer.index(f"id: {posted['id']}".encode()):].decode()
    block = block[:block.index("\n\n")]
    lines = block.split("\n")
    assert lines[0] == f"id: {posted['id']}"
    assert all(line.startswith("data: ") for line in lines[1:]), block
    assert not any(line.startswith("event") for line in lines), block


def test_named_events_have_no_id_line(api, stream):
    """Every named event (membership, read, invitation, room, presence, reset) has no `id:`
    line, so the last event id keeps naming the last chat message."""
    alice, bob = api(), api()
    with alice.subscribe() as sse:
        sse.wait_ready()
        room = alice.create_room()
        joined = sse.next_event(5)
        assert joined.event == "membership" and not joined.has_id_field and joined.id is None
        posted = alice.post_message(room["id"], "anchor")
        assert stream.next_message(sse).id == posted["id"]
        with bob.subscribe() as bob_sse:  # alice sees bob come online
            bob_sse.wait_ready()
            bob.join(room["id"])
        assert alice.put(f"/rooms/{room['id']}/read",
                         json={"message": posted["id"]}).status_code == 204
        private = bob.create_room(kind="private")
        assert bob.post(f"/rooms/{private['id']}/invitations",
                        json={"user": alice.id}).status_code == 201
        assert alice.delete(f"/rooms/{room['id']}").status_code == 204
        seen = sse.events_until(lambda e: e.event == "room", timeout=5)
    names = {event.event for event in seen}
    assert {"membership", "read", "invitation", "room", "presence"} <= names, seen
    for event in seen:
        assert not event.has_id_field, event
        assert event.id == posted["id"], event  # the resume point did not move
    with alice.subscribe(last_event_id=str(uuid.uuid4())) as sse:
        sse.wait_ready()
        reset = sse.next_event(5)
        assert reset.event == "reset" and not reset.has_id_field and reset.id is None


def test_keepalive_comments_while_idle(api):
    """`: keepalive` comments arrive about every CHAT_KEEPALIVE_SECONDS (1 s here) while idle."""
    alice = api()
    alice.leave(alice.general_room()["id"])  # no presence of other users: really idle
    with alice.subscribe() as sse:
        sse.wait_ready()
        start = time.monotonic()
        stamps = []
        while len(stamps) < 2:
            item = sse.next(3)
            assert isinstance(item, Comment), item
            assert item.text == "keepalive"
            stamps.append(time.monotonic() - start)
    assert stamps[0] < 1.6, stamps
    assert 0.6 < stamps[1] - stamps[0] < 1.6, stamps


def test_no_keepalive_while_events_flow(api):
    """Keepalives fill silence only: with a message every 0.4 s (CHAT_KEEPALIVE_SECONDS is
    1 s here) the stream carries the messages and no keepalive between them, however the
    server writes them (live events may go straight to the socket, hub.Stream)."""
    alice = api()
    alice.leave(alice.general_room()["id"])  # no presence of other users
    room = alice.create_room()
    with alice.subscribe() as sse:
        sse.wait_ready()
        posted = []
        for i in range(8):  # 3.2 s: more than three keepalive intervals
            posted.append(alice.post_message(room["id"], f"tick {i}")["id"])
            time.sleep(0.4)  # the pace is the scenario: nothing to await
        items = []
        while not (items and isinstance(items[-1], Event) and items[-1].id == posted[-1]):
            items.append(sse.next(3))
    assert [i.id for i in items if isinstance(i, Event) and i.event == "message"] == posted
    assert not [i for i in items if isinstance(i, Comment)], items


def test_only_the_user_may_subscribe(api, anon, live_server):
    """Another user's id: 403; anonymous: 401; a non-UUID id: 400 (even anonymously)."""
    alice, bob = api(), api()
    with alice.subscribe(user_id=bob.id) as sse:
        assert sse.response.status_code == 403
        assert sse.response.json()["error"]["code"] == "forbidden"
    with anon.subscribe(user_id=alice.id) as sse:
        assert sse.response.status_code == 401
        assert sse.response.json()["error"]["code"] == "unauthenticated"
    with alice.subscribe(user_id="not-a-uuid") as sse:
        assert sse.response.status_code == 400
    with anon.subscribe(user_id="not-a-uuid") as sse:
        assert sse.response.status_code == 400
    with alice.subscribe(headers={"Authorization": "Bearer wrong"}) as sse:
        assert sse.response.status_code == 401


def test_author_receives_own_messages(api, stream):
    """The author receives their own messages too, in posting order."""
    alice = api()
    room = alice.create_room()
    with alice.subscribe() as sse:
        sse.wait_ready()
        posted = [alice.post_message(room["id"], f"mine {i}") for i in range(5)]
        got = stream.messages(sse, 5)
    assert [e.json() for e in got] == posted


def test_anything_posted_after_ready_arrives(api, stream):
    """`ready` is sent only once the stream is registered: a post made right after it is
    seen always reaches the stream (repeated to catch a registration race)."""
    alice, bob = api(), api()
    room = alice.create_room()
    bob.join(room["id"])
    for i in range(15):
        with alice.subscribe() as sse:
            sse.wait_ready()
            posted = bob.post_message(room["id"], f"right after ready {i}")
            assert stream.next_message(sse, 5).json() == posted


def test_an_http_1_0_client_gets_the_events_unchunked(api, live_server):
    """HTTP/1.0 has no chunked encoding: the server sends the events as they are, and
    live events written straight to the socket (hub.Stream) are not framed either."""
    import socket

    alice = api()
    room = alice.create_room()
    sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=10)
    try:
        sock.sendall((f"GET /v1/chats/users/{alice.id}/subscribe HTTP/1.0\r\n"
                      f"Authorization: Bearer {alice.token}\r\n\r\n").encode())
        raw = b""
        while b"event: ready" not in raw:
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
        posted = [alice.post_message(room["id"], f"one of two {i}") for i in range(2)]
        while not raw.endswith(b"\n\n") or f"id: {posted[-1]['id']}".encode() not in raw:
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
    finally:
        sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and b"chunked" not in head.lower(), head
    blocks = [block for block in body.decode().split("\n\n") if block.startswith("id: ")]
    assert [block.split("\n")[0] for block in blocks] == [f"id: {m['id']}" for m in posted]
