"""Server-sent events for tests: a spec-exact parser and a threaded streaming client.

The parser follows the WHATWG HTML "Server-sent events" section, "Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html), exactly, so tests
see the stream the way a browser's ``EventSource`` does. It additionally reports comments
(to count keepalives) and ``retry`` values as items, in stream order.
"""

from __future__ import annotations

import codecs
import json
import queue
import socket
import threading
import time
from typing import Any, Callable, NamedTuple, Union

import requests

__all__ = ["Comment", "Event", "Item", "Retry", "SSEClient", "SSEParser", "StreamClosed"]


class Event(NamedTuple):
    """A dispatched event, as ``EventSource`` would hand it to a listener."""

    event: str  # the type; "message" when the block had no (or an empty) event: field
    data: str  # data: lines joined with "\n"
    id: str | None  # the last event id at dispatch (persists across events); None if empty
    has_id_field: bool  # whether this very event block contained an id: line

    def json(self) -> Any:
        return json.loads(self.data)


class Comment(NamedTuple):
    """A line starting with ':'; ``text`` is what follows, minus one leading space."""

    text: str


class Retry(NamedTuple):
    """A valid ``retry:`` field (reconnection time in milliseconds)."""

    ms: int


Item = Union[Event, Comment, Retry]


class SSEParser:
    """Incremental event-stream parser: ``feed(bytes)`` returns the items completed so far.

    Chunks may split anywhere: inside a UTF-8 sequence, a line, or a CRLF pair.
    """

    def __init__(self) -> None:
        # The stream is always UTF-8; invalid bytes become U+FFFD (spec: "UTF-8 decode").
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # a leading BOM is only stripped at the very start
        self._line = ""  # the unfinished line carried to the next feed()
        self._after_cr = False  # last chunk ended in CR: a following LF is part of CRLF
        self._data: list[str] = []
        self._event_type = ""
        self._last_id = ""  # the "last event ID buffer": NOT reset on dispatch
        self._block_has_id = False
        self.retry: int | None = None  # the most recent valid retry value

    def feed(self, chunk: bytes) -> list[Item]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._after_cr and text:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        items: list[Item] = []
        pos = 0
        n = len(text)
        while pos < n:
            # Find the next CR or LF; everything before it completes the pending line.
            cr, lf = text.find("\r", pos), text.find("\n", pos)
            if cr < 0 and lf < 0:
                break
            end = lf if cr < 0 else cr if lf < 0 else min(cr, lf)
            line, self._line = self._line + text[pos:end], ""
            pos = end + 1
            if text[end] == "\r":
                if pos < n:
                    if text[pos] == "\n":
                        pos += 1
                else:
                    # A CR at the end of the chunk ends the line now (so the event is not
                    # delayed), but an LF starting the next chunk must not count again.
                    self._after_cr = True
            self._process_line(line, items)
        self._line += text[pos:]
        return items

    def _process_line(self, line: str, items: list[Item]) -> None:
        if line == "":
            self._dispatch(items)
            return
        if line[0] == ":":
            text = line[1:]
            items.append(Comment(text[1:] if text.startswith(" ") else text))
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]  # only ONE leading space is stripped
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            self._block_has_id = True
            if "\0" not in value:
                self._last_id = value
        elif field == "retry":
            # "consists of only ASCII digits"; str.isdigit() would accept e.g. "²" or "٣".
            if value and all("0" <= c <= "9" for c in value):
                self.retry = int(value)
                items.append(Retry(self.retry))
        # Any other field name is ignored.

    def _dispatch(self, items: list[Item]) -> None:
        has_id, self._block_has_id = self._block_has_id, False
        event_type, self._event_type = self._event_type, ""
        if not self._data:  # empty data buffer: nothing is dispatched
            return
        data, self._data = "\n".join(self._data), []
        items.append(Event(event_type or "message", data, self._last_id or None, has_id))


class StreamClosed(EOFError):
    """The stream has ended (closed by the server, by ``close()``, or never opened)."""


_END = object()  # queue sentinel: the reader thread has finished


class SSEClient:
    """``GET url`` as an event stream over a real socket, read by a background thread.

    >>> with SSEClient(url, {"Authorization": "Bearer ..."}) as sse:
    ...     assert sse.response.status_code == 200
    ...     ready = sse.next_event(timeout=5)

    The reader thread feeds every received chunk to an ``SSEParser`` at once (``read1``,
    never ``iter_lines``, which would buffer), so timing-sensitive tests see each event as
    soon as its bytes arrive. A non-200 answer is not read as a stream: inspect
    ``.response`` (e.g. ``.json()``); ``next()`` then raises ``StreamClosed``.
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None, *,
                 connect_timeout: float = 10.0, cookies: dict[str, str] | None = None) -> None:
        self.url = url
        self.comments: list[Comment] = []  # every comment received, even if skipped
        self.retry: int | None = None
        self.closed_by_server = False
        self.error: BaseException | None = None  # a read error other than our own close()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ended = threading.Event()
        self._closing = False
        self._parser = SSEParser()
        self._session = requests.Session()
        # No read timeout: the reader blocks until data, EOF, or close() shuts the socket.
        self.response = self._session.get(
            url, headers={"Accept": "text/event-stream", **(headers or {})},
            cookies=cookies, stream=True, timeout=(connect_timeout, None))
        conn = getattr(self.response.raw, "connection", None)
        self._sock: socket.socket | None = getattr(conn, "sock", None)
        if self.response.status_code != 200:
            self._ended.set()
            self._queue.put(_END)
            return
        self._thread = threading.Thread(target=self._read_loop, name=f"sse {url}", daemon=True)
        self._thread.start()

    def _read_loop(self) -> None:
        raw = self.response.raw
        try:
            while True:
                chunk = raw.read1(65536)
                if not chunk:
                    break
                for item in self._parser.feed(chunk):
                    if isinstance(item, Comment):
                        self.comments.append(item)
                    elif isinstance(item, Retry):
                        self.retry = item.ms
                    self._queue.put(item)
        except BaseException as exc:  # noqa: BLE001 - a reset is also "the stream ended"
            if not self._closing:
                self.error = exc
        finally:
            self.closed_by_server = not self._closing
            self._ended.set()
            self._queue.put(_END)

    @property
    def local_port(self) -> int | None:
        """The client-side port of the stream's connection (None if it never opened)."""
        return self._sock.getsockname()[1] if self._sock is not None else None

    # -- reading ---------------------------------------------------------------------------

    def next(self, timeout: float = 5.0) -> Item:
        """The next item (Event, Comment or Retry); ``TimeoutError`` if none arrives."""
        try:
            item = self._queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            raise TimeoutError(f"no SSE item within {timeout}s from {self.url}") from None
        if item is _END:
            self._queue.put(_END)  # keep the end visible to later calls
            raise StreamClosed(f"stream ended (closed_by_server={self.closed_by_server}, "
                               f"error={self.error!r})")
        return item

    def next_event(self, timeout: float = 5.0, skip_comments: bool = True) -> Event:
        """The next Event, skipping ``Retry`` items and (by default) comments.

        With ``skip_comments=False`` a comment arriving first is returned instead, so a test
        can assert exactly what comes next.
        """
        deadline = time.monotonic() + timeout
        while True:
            item = self.next(deadline - time.monotonic())
            if isinstance(item, Event) or (isinstance(item, Comment) and not skip_comments):
                return item  # type: ignore[return-value]

    def wait_ready(self, timeout: float = 5.0) -> Event:
        """The first event, which must be ``ready`` (returned so tests can read its data)."""
        event = self.next_event(timeout)
        if event.event != "ready":
            raise AssertionError(f"expected the ready event first, got {event!r}")
        return event

    def events_until(self, predicate: Callable[[Event], bool], timeout: float = 5.0) -> list[Event]:
        """Events up to and including the first one matching ``predicate``."""
        deadline = time.monotonic() + timeout
        seen: list[Event] = []
        while True:
            try:
                event = self.next_event(deadline - time.monotonic())
            except TimeoutError:
                raise TimeoutError(f"no matching event within {timeout}s; got {seen!r}") from None
            seen.append(event)
            if predicate(event):
                return seen

    def collect(self, duration: float) -> list[Event]:
        """Every event arriving within ``duration`` seconds (for "nothing else arrives")."""
        deadline = time.monotonic() + duration
        events: list[Event] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                events.append(self.next_event(left))
            except (TimeoutError, StreamClosed):
                break
        return events

    # -- ending ----------------------------------------------------------------------------

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Wait until the stream has ended; True if it did within ``timeout``."""
        return self._ended.wait(timeout)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def close(self) -> None:
        """Close the connection so the server sees the client go away."""
        if not self._ended.is_set():
            self._closing = True
        # shutdown() (not just close()) sends FIN at once, even while the reader thread is
        # blocked in recv() holding a reference to the socket, and wakes that thread up.
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()
        self._session.close()
        if hasattr(self, "_thread"):
            self._thread.join(timeout=5)

    def __enter__(self) -> SSEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
