"""A stream that cannot keep up is closed by the server; nothing is lost (API.md,
"Delivery guarantees": "A stream that cannot keep up (its outgoing buffer is full) is
closed by the server; the client reconnects and resumes - nothing is lost")."""

from __future__ import annotations

import re
import socket
import sys
import time

import pytest
import requests

from tests.support.server import ChatClient
from tests.support.sse import Event, SSEParser

# Large bodies fill the kernel buffers quickly: on loopback the server's send buffer
# autotunes up to net.ipv4.tcp_wmem's maximum (4 MiB by default).
BODY_CHARS = 50_000


def open_raw_stream(server, client) -> socket.socket:
    """A raw connection with a tiny receive buffer, the GET sent by hand."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall((f"GET /v1/chats/users/{client.id}/subscribe HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{server.port}\r\n"
                  f"Authorization: Bearer {client.token}\r\n"
                  "Accept: text/event-stream\r\n\r\n").encode())
    return sock


def read_until(sock: socket.socket, raw: bytes, done) -> bytes:
    """`raw` and what the socket sends after it, until `done(all of it)` is true."""
    while not done(raw):
        chunk = sock.recv(4096)
        assert chunk, raw
        raw += chunk
    return raw


def dechunk(raw: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response read so far (a cut-off chunk included)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert re.search(rb"(?im)^transfer-encoding:\s*chunked", head), head
    body = b""
    while True:
        line, sep, after = rest.partition(b"\r\n")
        if not sep:
            return body
        size = int(line.split(b";")[0], 16)
        if size == 0 or len(after) < size:
            return body + after[:size]
        body += after[:size]
        rest = after[size + 2:]


def chat_messages(raw: bytes) -> list[dict]:
    """The complete chat messages in what a raw stream received."""
    items = SSEParser().feed(dechunk(raw))
    return [i.json() for i in items if isinstance(i, Event) and i.event == "message"]


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a socket (Linux TCP_INFO: tcpi_state is the first byte)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # include/net/tcp_states.h


def slow_streams_closed(server) -> float:
    text = requests.get(server.api + "/metrics", timeout=5).text
    match = re.search(r"^chat_slow_streams_closed_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux TCP_INFO")
def test_slow_consumer_is_closed_then_resumes_without_loss(server_factory, stream):
    """With CHAT_STREAM_BUFFER=20: a client that stops reading is closed by the server
    (it sees EOF/reset), a fast subscriber on the same server meanwhile gets every
    message, and the slow client resumes from its last complete message with everything
    it missed, exactly once."""
    server = server_factory({"CHAT_STREAM_BUFFER": "20", "CHAT_RATE_LIMIT": "10000/second",
                             "CHAT_MAX_MESSAGE_LENGTH": str(BODY_CHARS + 10)})
    slow, fast, writer = (ChatClient(server.api).register() for _ in range(3))
    sock = None
    try:
        room = writer.create_room()["id"]
        slow.join(room)
        fast.join(room)
        before = slow_streams_closed(server)
        with fast.subscribe() as fast_sse:
            fast_sse.wait_ready()
            sock = open_raw_stream(server, slow)
            raw = read_until(sock, b"", lambda raw: b"event: ready" in raw)
            first = writer.post_message(room, "small, read in full")
            raw = read_until(sock, raw, chat_messages)
            assert chat_messages(raw) == [first]
            # Stop reading. Post big messages until the server gives up on the stream.
            posted = [first]
            started = time.monotonic()
            while slow_streams_closed(server) == before:
                assert time.monotonic() - started < 30, \
                    f"the slow stream was not closed after {len(posted)} posts"
                posted += [writer.post_message(room, f"{len(posted) + i} " + "x" * BODY_CHARS)
                           for i in range(5)]
            closed_after = time.monotonic() - started
            overflow_posts = len(posted) - 1
            posted += [writer.post_message(room, f"after the close {i}") for i in range(3)]
            got = stream.messages(fast_sse, len(posted), timeout=30)
            assert [e.json() for e in got] == posted  # the fast one got everything, in order
        # The server ended the connection itself, though the client still is not reading
        # (a write blocked on it must not keep the stream, and megabytes of kernel
        # buffers, alive for as long as the client lingers).
        deadline = time.monotonic() + 5
        while tcp_state(sock) not in (TCP_CLOSE, TCP_CLOSE_WAIT):
            assert time.monotonic() < deadline, \
                "the server never closed the slow client's connection"
            time.sleep(0.02)
        # The slow client now reads what reached it, up to the end.
        ended_by = None
        deadline = time.monotonic() + 10
        while ended_by is None:
            assert time.monotonic() < deadline, "the slow stream was not closed"
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                ended_by = "reset"
            else:
                raw += chunk
                ended_by = None if chunk else "EOF"
        received = chat_messages(raw)
        assert received == posted[:len(received)]
        assert len(received) < len(posted)
        # Resume from its last complete message: the rest, exactly once, in order.
        start = time.monotonic()
        with slow.subscribe(last_event_id=received[-1]["id"]) as sse:
            sse.wait_ready()
            rest = stream.messages(sse, len(posted) - len(received), timeout=30)
            caught_up = time.monotonic() - start
            assert [e.json() for e in rest] == posted[len(received):]
            assert not [e for e in sse.collect(0.3) if e.event == "message"]
        print(f"\nslow stream closed after {overflow_posts} posts of {BODY_CHARS} chars "
              f"({closed_after:.2f} s), ended by {ended_by}; resumed "
              f"{len(posted) - len(received)} messages in {caught_up:.2f} s")
    finally:
        if sock is not None:
            sock.close()
        for client in (slow, fast, writer):
            client.close()


def strict_dechunk(raw: bytes) -> bytes:
    """The body of a chunked response read so far; fails on any framing error (a chunk
    cut short is allowed only at the very end)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    body = b""
    while rest:
        line, sep, after = rest.partition(b"\r\n")
        if not sep:
            return body
        assert re.fullmatch(rb"[0-9A-F]+", line), ("bad chunk size line", line[:40])
        size = int(line, 16)
        if len(after) < size + 2:
            return body
        assert after[size:size + 2] == b"\r\n", "chunk not closed by CRLF"
        body += after[:size]
        rest = after[size + 2:]
    return body


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loopback buffer sizes")
def test_a_client_that_pauses_gets_everything_intact_once_it_reads_again(server_factory):
    """Live events are written straight to the socket while it takes them (hub.Stream);
    once a client pauses long enough for the kernel's buffers to fill, a write is cut
    short and the stream's response writes the rest, then what queued behind it. After
    the pause the client reads every message whole, in order, in valid chunked framing."""
    server = server_factory({"CHAT_RATE_LIMIT": "10000/second",
                             "CHAT_MAX_MESSAGE_LENGTH": str(BODY_CHARS + 10)})
    reader, writer = (ChatClient(server.api).register() for _ in range(2))
    sock = None
    try:
        room = writer.create_room()["id"]
        reader.join(room)
        sock = open_raw_stream(server, reader)
        raw = read_until(sock, b"", lambda raw: b"event: ready" in raw)
        # Far more than the socket buffers hold (up to 4 MiB on the server's side), far
        # less than the stream's buffer of 1,000 events: paused, not closed.
        posted = [writer.post_message(room, f"{i} " + "x" * BODY_CHARS) for i in range(120)]
        posted.append(writer.post_message(room, "small, last"))
        sock.settimeout(10)
        chunks, tail = [raw], raw[-200:]
        while b"small, last" not in tail:  # the last message, at the end
            chunk = sock.recv(1 << 20)
            assert chunk, "the stream ended"
            chunks.append(chunk)
            tail = (tail + chunk)[-200:]
        raw = b"".join(chunks)
        while not raw.endswith(b"\n\n\r\n"):  # the rest of its event and chunk
            chunk = sock.recv(1 << 20)
            assert chunk, "the stream ended"
            raw += chunk
        assert chat_messages_strict(raw) == posted
        assert slow_streams_closed(server) == 0
    finally:
        if sock is not None:
            sock.close()
        for client in (reader, writer):
            client.close()


def chat_messages_strict(raw: bytes) -> list[dict]:
    items = SSEParser().feed(strict_dechunk(raw))
    return [i.json() for i in items if isinstance(i, Event) and i.event == "message"]
