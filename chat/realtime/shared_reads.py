"""One database read of a log range for many resuming streams.

When a deploy or a network blip brings a thousand clients back at once, they resume from
about the same place in the same rooms, and each of them used to read and serialize the
same messages again (half of a resume storm's worker time: docs/benchmarks.md, section
8). `SharedReads.read(session, first, last, rooms)` returns what `order.read_range` would,
reading from the database only what no earlier call of the same start and rooms has read:
a later, longer range reads just its tail.

What is kept must stay what the database would answer now. Committed places never change
except through the log entries that say so — an edit, a deletion, a reaction (they change
how a message in the range is shown) — and an account deletion, which hands the user's
messages to `ghost` and announces itself with a `close` of all the user's sessions. Any of
those empties the store (`observe`, fed the same events as the hub). Entries older than
`ttl` seconds are dropped as well, and the store holds at most MAX_ENTRIES entries.
"""

import threading
import time

from chat.realtime import order

MAX_ENTRIES = 20_000
TTL_SECONDS = 5.0


class _Run:
    """Entries of rooms from `first` through `last` (seq order), read at `read_at`."""

    __slots__ = ("last", "entries", "read_at", "lock")

    def __init__(self, first):
        self.last = first - 1
        self.entries = []
        self.read_at = time.monotonic()
        self.lock = threading.Lock()


class SharedReads:
    def __init__(self, read_range=order.read_range, ttl=TTL_SECONDS):
        self._read_range = read_range
        self.ttl = ttl
        self._runs = {}  # (first, rooms) -> _Run
        self._generation = 0  # bumped whenever the store is emptied
        self._lock = threading.Lock()

    def read(self, session, first, last, rooms):
        """The entries of `rooms` with first <= seq <= last, in seq order (a new list)."""
        key = (first, frozenset(rooms))
        run, generation = self._run(key)
        with run.lock:  # a storm's other streams wait here for the first one's read
            if run.last < last:
                tail = self._read_range(session, run.last + 1, last, rooms)
                with self._lock:
                    # Emptied meanwhile (an edit, a deletion): what was just read may be
                    # older than that change, so it is handed out but not kept.
                    if generation == self._generation:
                        run.entries.extend(tail)
                        run.last = last
                        self._bound()
                    else:
                        return run.entries[:] + tail
            entries = run.entries
            if entries and entries[-1]["seq"] > last:
                return [entry for entry in entries if entry["seq"] <= last]
            return entries[:]

    def _run(self, key):
        with self._lock:
            run = self._runs.get(key)
            if run is None or time.monotonic() - run.read_at > self.ttl:
                run = self._runs[key] = _Run(key[0])
            return run, self._generation

    def _bound(self):
        if sum(len(run.entries) for run in self._runs.values()) > MAX_ENTRIES:
            self._runs.clear()

    def observe(self, event):
        """Empties the store when a bus event changes what a committed range shows."""
        if event.get("type") == "close" and event.get("session") is None:
            self.clear()
        elif event.get("type") == "log" and any(
                entry.get("kind") in order.MESSAGE_CHANGES
                for entry in event.get("entries", ())):
            self.clear()

    def clear(self):
        with self._lock:
            self._generation += 1
            self._runs.clear()
