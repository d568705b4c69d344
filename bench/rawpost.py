"""A lean HTTP/1.1 poster for the benchmarks: asyncio, keep-alive sockets, requests
framed by hand.

On a 2-core machine the load generator shares the CPU with the server it measures. The
`requests` posters (one thread per connection) cost about 0.6-0.7 ms of client CPU per
POST and contend for the GIL, so at 1,000 msg/s the poster alone took 0.7 of a core and
the server's tail latency measured that contention. This client costs a fraction of that
(docs/benchmarks.md, section 12). `--client requests` on the scripts keeps the old one
for comparison.

It understands just what the server answers to a POST: a status line, headers with a
Content-Length, and a body.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from urllib.parse import urlsplit


class RawConnection:
    """One keep-alive connection; `post` sends one request and reads its answer."""

    def __init__(self, reader, writer, host, port, token):
        self.reader, self.writer = reader, writer
        self.host, self.port = host, port
        self.head = (f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Type: application/json\r\n").encode()

    @classmethod
    async def open(cls, host, port, token):
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host, port, token)

    async def post(self, path, body: bytes):
        if self.reader.at_eof():
            # The server closed the connection after its keep-alive timeout (gunicorn's
            # is 2 s): a slow paced run reuses each connection less often than that.
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
                          % (path.encode(), self.head, len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise RuntimeError("chunked answers are not supported here")
        answer = await self.reader.readexactly(length) if length else b""
        return status, answer

    def close(self):
        self.writer.close()


def _target(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port, parts.path


async def _connections(url, tokens):
    host, port, _ = _target(url)
    return [await RawConnection.open(host, port, token) for token in tokens]


def paced(url, token, rate, duration, connections, on_start=None):
    """Open loop: POST number i (a JSON message with a fresh id) is due at t0 + i/rate,
    whatever the earlier answers did; a free keep-alive connection sends it. Each
    connection first posts one warm-up message; a second later (they are stored by
    then), `on_start()` runs and the measured posts begin. Returns ({id: send time},
    POST round trips, seconds, sends more than 5 ms late)."""
    path = _target(url)[2]
    n = int(rate * duration)
    sent, rtts, late = {}, [], [0]

    async def main():
        conns = await _connections(url, [token] * connections)
        for c in conns:  # warm-up, as the requests poster does: not measured
            await _expect_202(c, path, b'{"message": "warm-up"}')
        await asyncio.sleep(1.0)
        if on_start:
            on_start()
        free = asyncio.Queue()
        for c in conns:
            free.put_nowait(c)

        async def send(i, due):
            c = await free.get()
            try:
                mid = str(uuid.uuid4())
                body = json.dumps({"message": f"latency probe {i}", "id": mid}).encode()
                t = time.monotonic()
                if t - due > 0.005:
                    late[0] += 1
                sent[mid] = t
                await _expect_202(c, path, body)
                rtts.append(time.monotonic() - t)
            finally:
                free.put_nowait(c)

        tasks = []
        t0 = time.monotonic() + 0.05
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, due)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - t0
        for c in conns:
            c.close()
        return elapsed

    elapsed = asyncio.run(main())
    return sent, rtts, elapsed, late[0]


def closed_loop(url, tokens, seconds, on_start=None):
    """One connection per token posts one message after another for `seconds`.
    `on_start()` runs once every connection is open, just before the first post. Returns
    (round trips in seconds, {status: count}, seconds posted for)."""
    path = _target(url)[2]
    latencies, statuses = [], {}

    async def main():
        conns = await _connections(url, tokens)
        if on_start:
            on_start()
        started = time.perf_counter()
        stop_at = started + seconds

        async def post(c):
            i = 0
            while time.perf_counter() < stop_at:
                body = b'{"message": "ingest %d"}' % i
                t0 = time.perf_counter()
                status, _ = await c.post(path, body)
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
                i += 1

        await asyncio.gather(*(post(c) for c in conns))
        posted_for = time.perf_counter() - started
        for c in conns:
            c.close()
        return posted_for

    posted_for = asyncio.run(main())
    latencies.sort()
    return latencies, statuses, posted_for


async def _expect_202(conn, path, body):
    status, answer = await conn.post(path, body)
    if status != 202:
        raise RuntimeError(f"POST answered {status}: {answer[:200]!r}")
