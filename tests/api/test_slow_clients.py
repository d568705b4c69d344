"""Slow clients cannot occupy the server: a body that takes longer than
CHAT_BODY_TIMEOUT_SECONDS to arrive is answered 408 and its connection closed, headers
that never end are cut by gunicorn, and others are served meanwhile. Bodies sent in
chunks, or in pieces within the deadline, still work."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.checks import assert_error


@pytest.fixture(scope="module")
def server_env(server_env):
    return {**server_env, "CHAT_BODY_TIMEOUT_SECONDS": "1"}


def _connect(live_server):
    url = urlsplit(live_server.api)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def _read_all(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_body_that_drips_gets_408_and_others_are_served_meanwhile(live_server, anon):
    sock = _connect(live_server)
    started = time.monotonic()
    sock.sendall(b"POST /v1/chats/users HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")
    # Meanwhile a normal client is served at once.
    assert anon.get("/healthcheck").status_code == 200
    answer = _read_all(sock)  # the server closes the connection after answering
    elapsed = time.monotonic() - started
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert 0.9 <= elapsed < 5, elapsed


def test_headers_that_never_end_are_cut(live_server):
    sock = _connect(live_server)
    sock.sendall(b"GET /v1/chats/healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    assert _read_all(sock) == b""  # closed without an answer (gunicorn's keep-alive bound)
    assert time.monotonic() - started < 10
    sock.close()


def test_a_body_in_pieces_within_the_deadline_and_a_chunked_body_work(live_server, api):
    me = api()
    sock = _connect(live_server)
    body = json.dumps({"name": f"room-{time.time_ns()}"}).encode()
    head = (f"POST /v1/chats/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {me.token}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    sock.sendall(head + body[:5])
    time.sleep(0.2)  # a slow but honest client: the rest arrives well within the deadline
    sock.sendall(body[5:])
    assert _read_all(sock).startswith(b"HTTP/1.1 201")
    sock.close()

    def chunks():
        yield b'{"name": "'
        yield f"chunked-{time.time_ns()}".encode()
        yield b'"}'

    response = requests.post(f"{live_server.api}/rooms", data=chunks(), timeout=10,
                             headers={**me.auth_header, "Content-Type": "application/json"})
    assert response.status_code == 201, response.text


def test_a_chunked_body_over_the_limit_is_still_413(live_server, api):
    me = api()

    def chunks():
        for _ in range(70):
            yield b" " * 1024

    response = requests.post(f"{live_server.api}/rooms", data=chunks(), timeout=10,
                             headers={**me.auth_header, "Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
