"""The ordered feed: hands log entries (chat/realtime/order.py) to the hub exactly once and
in seq order, whatever order their publishes arrive in, and even when one is lost.

It remembers the next place it expects. An event that starts beyond it means the places
in between are committed (places become visible in order) but their publish has not
arrived, or never will: they are read from the database first. A publish lost with no
later traffic is caught by `poll`, which reads whatever is committed but not delivered.
Every worker runs one, with or without a broker.
"""

import threading

CHUNK = 1000  # most places read from the database at once while filling a gap


class OrderedFeed:
    def __init__(self, fetch_range, committed_seq, deliver):
        self.fetch_range = fetch_range  # (first, last) -> [entries], seq order
        self.committed_seq = committed_seq  # () -> highest committed place
        self.deliver = deliver  # ({"type": "log", "entries", "through"}) -> None
        self._next = None
        self._polled_next = None
        self._lock = threading.Lock()

    @property
    def position(self):
        """The last place handed to the hub (None before `start`)."""
        return None if self._next is None else self._next - 1

    def start(self):
        """Starts from the present. Safe to repeat; a feed that could not start (the
        database was down) starts on its next use instead."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self):
        if self._next is None:
            committed = self.committed_seq()
            self._next = committed + 1
            self.deliver({"type": "log", "entries": [], "through": committed})

    def offer(self, event):
        with self._lock:
            self._ensure_started()
            if event["through"] < self._next:
                return  # already delivered (a gap read, an echo, before start)
            if event["from"] > self._next:
                self._fill(event["from"] - 1)
            fresh = [entry for entry in event["entries"] if entry["seq"] >= self._next]
            self._next = event["through"] + 1
            self.deliver({"type": "log", "entries": fresh, "through": event["through"]})

    def catch_up(self, committed):
        """Delivers everything up to `committed`, a place the caller read as committed
        (a stream open reads it with the user's rooms, in one statement)."""
        with self._lock:
            self._ensure_started()
            if self._next <= committed:
                self._fill(committed)

    def poll(self):
        """Called periodically: fills what has been committed but not delivered for a whole
        poll interval (a publish that was lost)."""
        committed = self.committed_seq()
        with self._lock:
            self._ensure_started()
            stuck = self._next <= committed and self._next == self._polled_next
            self._polled_next = self._next
            if stuck:
                self._fill(committed)

    def _fill(self, last):
        while self._next <= last:
            upto = min(last, self._next + CHUNK - 1)
            entries = self.fetch_range(self._next, upto)
            self._next = upto + 1
            self.deliver({"type": "log", "entries": entries, "through": upto})
