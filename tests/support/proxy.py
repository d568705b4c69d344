"""TCP proxies between a test server and its database or broker, to break the network in
precise ways.

- ``TCPProxy``: forwards every byte both ways (a thread per direction per connection).
- ``PostgresCommitCutter``: a ``TCPProxy`` in front of PostgreSQL that reads just enough of
  the frontend protocol (the startup packet, then typed messages: 1 type byte + int32
  length) to spot where a transaction commits, and cuts that connection either before
  forwarding it (the commit never happens) or after forwarding it, once the server has
  answered, without relaying the answer (an ambiguous commit: it happened, the client
  cannot know). psycopg2 sends every statement as a simple Query, so every commit is
  visible: a ``COMMIT`` after ``BEGIN``, or a Query sent outside a transaction
  (autocommit), which PostgreSQL commits as it answers it, however many statements it
  holds. Connect with ``?sslmode=disable``: the proxy cannot read TLS.
- ``DelayProxy``: adds latency to one direction, keeping the byte order (TCP cannot
  reorder), e.g. Redis -> server so that publishes reach one host late.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import deque
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["TCPProxy", "PostgresCommitCutter", "DelayProxy", "through_proxy"]


def through_proxy(url: str, port: int, query: str | None = None) -> str:
    """``url`` with host 127.0.0.1 and ``port`` (and ``query``, if given)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")
    host = f"127.0.0.1:{port}"
    netloc = f"{netloc[0]}@{host}" if netloc[1] else host
    return urlunsplit(parts._replace(netloc=netloc,
                                     query=parts.query if query is None else query))


def _hard_close(sock: socket.socket) -> None:
    """End the connection at once, as a killed peer would (shutdown first: a thread blocked
    in recv() on the socket would otherwise keep it open past close())."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Link:
    """One proxied connection: the client side (``down``) and the target side (``up``)."""

    def __init__(self, down: socket.socket, up: socket.socket) -> None:
        self.down, self.up = down, up
        self.closed = False
        self.lock = threading.Lock()
        self.state: dict = {}  # per-connection state of a subclass

    def cut(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        _hard_close(self.down)
        _hard_close(self.up)


class TCPProxy:
    """Listens on 127.0.0.1:<free port> and forwards to ``target``. Subclasses override
    ``client_data``/``server_data`` (called with each chunk read) to inspect, hold or cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._running = True
        self.connections = 0
        threading.Thread(target=self._accept_loop, name=f"proxy :{self.port}",
                         daemon=True).start()

    # -- the plumbing ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while self._running:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=5)
                up.settimeout(None)
            except OSError:
                _hard_close(down)
                continue
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(down, up)
            with self._lock:
                self._links.append(link)
                self.connections += 1
            self.on_connect(link)
            threading.Thread(target=self._pump, args=(link, down, self.client_data),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(link, up, self.server_data),
                             daemon=True).start()

    def _pump(self, link: _Link, source: socket.socket,
              handle: Callable[[_Link, bytes], None]) -> None:
        try:
            while not link.closed:
                chunk = source.recv(65536)
                if not chunk:
                    break
                handle(link, chunk)
        except OSError:
            pass
        finally:
            self.on_disconnect(link)
            link.cut()

    @staticmethod
    def send(sock: socket.socket, data: bytes) -> None:
        if data:
            sock.sendall(data)

    # -- hooks -----------------------------------------------------------------------------

    def on_connect(self, link: _Link) -> None:
        pass

    def on_disconnect(self, link: _Link) -> None:
        pass

    def client_data(self, link: _Link, chunk: bytes) -> None:
        self.send(link.up, chunk)

    def server_data(self, link: _Link, chunk: bytes) -> None:
        self.send(link.down, chunk)

    # -- control ---------------------------------------------------------------------------

    def cut_all(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.cut()

    def close(self) -> None:
        self._running = False
        try:
            self._listener.close()
        except OSError:
            pass
        self.cut_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- PostgreSQL ----------------------------------------------------------------------------

SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102


class PostgresCommitCutter(TCPProxy):
    """Cuts chosen COMMITs. ``plan(modes, matches, every)`` arms it: of the COMMITs whose
    transaction's SQL satisfies ``matches`` (a predicate over the statements since BEGIN),
    every ``every``-th is cut with the next mode of ``modes`` ("before" or "after"), until
    the modes are used up; ``done`` is set then. ``cuts`` records what was cut."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        super().__init__(target_host, target_port)
        self._plan_lock = threading.Lock()
        self._modes: deque[str] = deque()
        self._matches: Callable[[list[str]], bool] = lambda statements: False
        self._every = 1
        self._seen = 0
        self.cuts: list[tuple[str, float]] = []
        self.done = threading.Event()
        self.commits = 0  # matching COMMITs seen (cut or not)

    def plan(self, modes: list[str], matches: Callable[[list[str]], bool],
             every: int = 1) -> None:
        assert all(m in ("before", "after") for m in modes), modes
        with self._plan_lock:
            self._modes = deque(modes)
            self._matches = matches
            self._every = every
            self._seen = 0
            self.done.clear()
            if not modes:
                self.done.set()

    def _decide(self, statements: list[str]) -> str | None:
        with self._plan_lock:
            if not self._modes or not self._matches(statements):
                return None
            self.commits += 1
            self._seen += 1
            if self._seen % self._every:
                return None
            mode = self._modes.popleft()
            self.cuts.append((mode, time.monotonic()))
            if not self._modes:
                self.done.set()
            return mode

    def on_connect(self, link: _Link) -> None:
        link.state.update(buf=b"", startup=True, statements=[], in_transaction=False,
                          cut_on_reply=False)

    def client_data(self, link: _Link, chunk: bytes) -> None:
        st = link.state
        st["buf"] += chunk
        out = []
        while True:
            buf = st["buf"]
            if st["startup"]:
                if len(buf) < 8:
                    break
                (length,) = struct.unpack("!I", buf[:4])
                if len(buf) < length:
                    break
                (code,) = struct.unpack("!I", buf[4:8])
                # An SSL/GSSAPI request is answered with one byte and followed by the
                # real startup packet; anything else starts the typed messages.
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    st["startup"] = False
                out.append(buf[:length])
                st["buf"] = buf[length:]
                continue
            if len(buf) < 5:
                break
            kind = buf[:1]
            (length,) = struct.unpack("!I", buf[1:5])
            if len(buf) < 1 + length:
                break
            message, st["buf"] = buf[:1 + length], buf[1 + length:]
            if kind == b"Q":
                sql = message[5:-1].decode("utf-8", "replace").strip().rstrip(";").strip()
                word = sql.upper()
                commits = None  # the statements this Query commits, if it commits
                if word == "COMMIT":
                    commits, st["statements"] = st["statements"], []
                    st["in_transaction"] = False
                elif word in ("ROLLBACK", "BEGIN"):
                    st["statements"] = []
                    st["in_transaction"] = word == "BEGIN"
                elif st["in_transaction"]:
                    st["statements"].append(sql)
                else:
                    commits = [sql]  # autocommit: committed when answered
                mode = self._decide(commits) if commits is not None else None
                if mode == "before":
                    self.send(link.up, b"".join(out))
                    link.cut()  # the commit never reaches the database
                    return
                if mode == "after":
                    st["cut_on_reply"] = True
            out.append(message)
        self.send(link.up, b"".join(out))

    def server_data(self, link: _Link, chunk: bytes) -> None:
        if link.state.get("cut_on_reply"):
            # The database has answered the COMMIT (the protocol is strictly request /
            # response here): it is committed, and the client never learns it.
            link.cut()
            return
        self.send(link.down, chunk)


def inserts_messages(statements: list[str]) -> bool:
    """A transaction of the message processor: it inserts chat messages (on PostgreSQL in
    one Query of several statements, chat/realtime/batch_store.py)."""
    return any("INSERT INTO MESSAGES" in s.upper() for s in statements)


# -- latency -------------------------------------------------------------------------------

class DelayProxy(TCPProxy):
    """Delays what the target sends by ``low``..``high`` seconds per chunk (random), in
    order: a chunk never overtakes an earlier one, so the delay varies but bytes stay in
    sequence. The other direction passes at once."""

    def __init__(self, target_host: str, target_port: int, low: float, high: float,
                 seed: int | None = None) -> None:
        self.low, self.high = low, high
        self._random = random.Random(seed)
        super().__init__(target_host, target_port)

    def on_connect(self, link: _Link) -> None:
        cond = threading.Condition()
        link.state.update(queue=deque(), cond=cond, last=0.0)
        threading.Thread(target=self._deliver, args=(link,), daemon=True).start()

    def server_data(self, link: _Link, chunk: bytes) -> None:
        st = link.state
        with st["cond"]:
            due = max(st["last"], time.monotonic() + self._random.uniform(self.low, self.high))
            st["last"] = due
            st["queue"].append((due, chunk))
            st["cond"].notify()

    def _deliver(self, link: _Link) -> None:
        st = link.state
        while not link.closed:
            with st["cond"]:
                while not st["queue"] and not link.closed:
                    st["cond"].wait(0.5)
                if link.closed:
                    return
                due, chunk = st["queue"][0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the chunk's due time: nothing to await but the clock
            with st["cond"]:
                st["queue"].popleft()
            try:
                self.send(link.down, chunk)
            except OSError:
                link.cut()
                return
