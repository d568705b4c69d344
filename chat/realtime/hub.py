"""The open streams of this worker and who receives what.

Indexes: user -> streams, user -> rooms, room -> users. They change only by log entries
applied in the order (the ordered feed hands them over one by one, see feed.py), so who
receives a message is decided by the memberships at that message's place, on every host.
A chat message is encoded once and its bytes pushed to each recipient stream's bounded
buffer; nothing here blocks, so one slow client can never hold up the others.
"""

import logging
import threading
import time
from collections import defaultdict, deque

from chat.realtime import events, metrics, order

log = logging.getLogger(__name__)

CLOSE = object()
# The tag of an item whose bytes are already framed for the socket: the part of a direct
# write the socket did not take (Stream.push), written before anything else.
RAW = object()


class TooManyStreams(Exception):
    pass


class ShuttingDown(Exception):
    """The hub no longer takes streams: this worker is stopping."""


class Stream:
    """One open event stream: its owner and its bounded outgoing buffer.

    Items are (seq, bytes): seq for log entries (anything at or below `last_seq`, what
    was already sent, is dropped, which makes resume duplicate-free), None for other
    events.

    Direct writes: while the response waits with nothing buffered (`get`), a push
    writes straight to the client's socket with `writer` (set by the response), if the
    socket takes it without blocking: no buffer, no wake-up of the response, no pass
    through the server's write path. What the socket does not take is buffered as the
    first item (RAW), and from then on the response writes everything, in order, until
    it waits again.
    """

    def __init__(self, user_id, session_id, capacity):
        self.user_id = user_id
        self.session_id = session_id
        self.capacity = capacity
        self.closed = False
        self.close_reason = None
        # A deque and an Event instead of queue.Queue: a Queue is a lock and three
        # conditions per stream, and both its put and its get take them, once per event
        # and stream (docs/benchmarks.md, section 3c).
        self._items = deque()
        self._ready = threading.Event()
        self.last_seq = 0  # the highest seq sent (the response sets its start)
        # When the client was last written to, directly or by the response: keepalives
        # fill only silence.
        self.written_at = time.monotonic()
        # (framed bytes) -> None when all were written, else the bytes not written.
        self.writer = None
        self._waiting = False  # the response is in `get`, with nothing buffered
        # Set by the stream's response: `sending` while a write to the client is under
        # way (it may be blocked on a client that stopped reading), `abort` ends the
        # connection at once.
        self.sending = False
        self.abort = None
        # (seq, room, joined) membership changes of this user applied while its rooms
        # were being loaded.
        self.pending_changes = []

    def push(self, seq, data):
        self.push_many([(seq, data)])

    def push_many(self, items):
        """Items (seq, bytes) in order: one write, or one append, for all of them."""
        if self.closed:
            return
        if self._waiting and not self._items and self.writer is not None:
            self._write_now(items)
            return
        if len(self._items) + len(items) > self.capacity:
            metrics.slow_streams_closed.inc()
            self.close("slow consumer")
            return
        self._items.extend(items)
        self._ready.set()

    def offer(self, data):
        """Pushes an event that may be dropped (typing): never into a buffer that is
        already half full, so it neither delays messages nor closes a slow stream."""
        if not self.closed and len(self._items) < self.capacity // 2:
            self.push_many([(None, data)])

    def is_new(self, seq):
        """Whether an item is still to be sent: not a log entry (None), or one after the
        last sent (an earlier one came with the replay). Records it as sent."""
        if seq is None:
            return True
        if seq <= self.last_seq:
            return False
        self.last_seq = seq
        return True

    def _write_now(self, items):
        chunks = [data for seq, data in items if self.is_new(seq)]
        if not chunks:
            return
        self.written_at = time.monotonic()
        rest = self.writer(b"".join(chunks))
        if rest:  # the socket is full (or gone): the response takes over
            self._waiting = False
            self._items.append((RAW, rest))
            self._ready.set()

    def close(self, reason):
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._items.append(CLOSE)
            self._ready.set()
            # A write blocked on a client that does not read would never get to see
            # CLOSE, and the connection (with megabytes queued in the kernel) would stay
            # open for as long as the client lingers: end it now.
            if self.sending and self.abort is not None:
                self.abort()

    def get(self, timeout):
        """The next item, CLOSE, or None when `timeout` passes idle. Everything the
        response got before must be written by now: pushes meanwhile may write directly."""
        if not self._items:
            self._ready.clear()
            # Pushed between the check and the clear: its set() was just undone, but the
            # item is there.
            if not self._items:
                self._waiting = True
                try:
                    self._ready.wait(timeout)
                finally:
                    self._waiting = False
        return self.get_nowait()

    def get_nowait(self):
        """The next item if one is already buffered (or CLOSE), else None."""
        try:
            return self._items.popleft()
        except IndexError:
            return None


class Hub:
    def __init__(self, max_streams_per_user, buffer_size):
        self.max_streams_per_user = max_streams_per_user
        self.buffer_size = buffer_size
        self._lock = threading.RLock()
        self._streams = defaultdict(set)  # user id -> {Stream}
        self._user_rooms = {}  # user id -> {room id}, for users with a stream here
        self._room_users = defaultdict(set)  # room id -> {user id}
        self._shutting_down = False
        self.position = 0  # the last place in the order applied here
        # Presence hooks: (user id, the user's rooms) on every stream that is ready, and
        # (user id, rooms the user was in) when the user's last stream here closes.
        self.on_user_connected = lambda user_id, rooms: None
        self.on_user_disconnected = lambda user_id, rooms: None

    # -- streams -------------------------------------------------------------------------

    def open(self, user_id, session_id):
        """Registers a stream; its rooms must then be given with `rooms_loaded`."""
        with self._lock:
            if self._shutting_down:
                raise ShuttingDown()
            if len(self._streams[user_id]) >= self.max_streams_per_user:
                if not self._streams[user_id]:
                    del self._streams[user_id]
                raise TooManyStreams()
            stream = Stream(user_id, session_id, self.buffer_size)
            self._streams[user_id].add(stream)
            self._user_rooms.setdefault(user_id, set())
            metrics.open_streams.inc()
        return stream

    def rooms_loaded(self, stream, view, since):
        """Sets the user's rooms: those of `view` (order.MembershipView) at place `since`
        (everything up to it must already be applied here), then the changes applied
        since, which the view is given too (`follow`). Returns (rooms, the place they
        are current at)."""
        with self._lock:
            rooms = {str(r) for r in view.rooms_at(since)}
            later = [change for change in stream.pending_changes if change[0] > since]
            for seq, room, joined in later:
                (rooms.add if joined else rooms.discard)(room)
            stream.pending_changes = None
            view.follow(later)
            position = self.position
            if stream not in self._streams.get(stream.user_id, ()):
                return set(), position
            self._set_rooms(stream.user_id, rooms)
        self.on_user_connected(stream.user_id, rooms)
        return rooms, position

    def close(self, stream, reason="closed"):
        stream.close(reason)
        with self._lock:
            streams = self._streams.get(stream.user_id)
            if not streams or stream not in streams:
                return
            streams.discard(stream)
            metrics.open_streams.dec()
            if streams:
                return
            del self._streams[stream.user_id]
            rooms = self._set_rooms(stream.user_id, set())
            del self._user_rooms[stream.user_id]
        self.on_user_disconnected(stream.user_id, rooms)

    def close_all(self, reason):
        with self._lock:
            streams = [s for group in self._streams.values() for s in group]
        for stream in streams:
            self.close(stream, reason)

    def shutdown(self, reason):
        """Ends every stream and refuses new ones from now on (the worker is stopping):
        a client reconnecting during the graceful shutdown must not get a stream that
        lives until the worker is killed."""
        with self._lock:
            self._shutting_down = True
        self.close_all(reason)

    def stream_count(self, user_id=None):
        with self._lock:
            if user_id is None:
                return sum(len(group) for group in self._streams.values())
            return len(self._streams.get(user_id, ()))

    def is_connected(self, user_id):
        with self._lock:
            return bool(self._streams.get(user_id))

    def _set_rooms(self, user_id, rooms):
        """Replaces the user's rooms in both indexes; returns the old set."""
        old = self._user_rooms.get(user_id, set())
        for room in old - rooms:
            members = self._room_users.get(room)
            if members is not None:
                members.discard(user_id)
                if not members:
                    del self._room_users[room]
        for room in rooms - old:
            self._room_users[room].add(user_id)
        self._user_rooms[user_id] = set(rooms)
        return old

    def _change_membership(self, seq, user_id, room, joined):
        for stream in self._streams.get(user_id, ()):
            if stream.pending_changes is not None:
                stream.pending_changes.append((seq, room, joined))
        if user_id in self._user_rooms:
            rooms = set(self._user_rooms[user_id])
            (rooms.add if joined else rooms.discard)(room)
            self._set_rooms(user_id, rooms)

    # -- sending -------------------------------------------------------------------------

    def _send(self, user_ids, seq, data, outbox=None):
        """Pushes `data` to every stream of these users, or adds it to their items in
        `outbox` (stream -> items) to be pushed at once later; returns how many streams."""
        sent = 0
        for user_id in user_ids:
            streams = self._streams.get(user_id, ())
            for stream in streams:
                if outbox is None:
                    stream.push(seq, data)
                else:
                    outbox.setdefault(stream, []).append((seq, data))
            sent += len(streams)
        return sent

    def send_to_users(self, user_ids, event, payload):
        data = events.named(event, payload)
        with self._lock:
            self._send(user_ids, None, data)

    def users_sharing(self, rooms, exclude=None):
        with self._lock:
            users = set()
            for room in rooms:
                users |= self._room_users.get(room, set())
        users.discard(exclude)
        return users

    # -- bus events ----------------------------------------------------------------------

    def handle(self, event):
        handler = getattr(self, "_on_" + event["type"], None)
        if handler is None:
            log.warning("hub ignores unknown event type %r", event["type"])
            return
        handler(event)

    def _on_log(self, event):
        """Entries in seq order, from the ordered feed only. Who receives each entry is
        decided at its place; each stream then gets all of its entries in one push (one
        write or one append per stream and batch, not per message)."""
        delivered = 0
        messages = []
        outbox = {}
        with self._lock:
            for entry in event["entries"]:
                kind = entry["kind"]
                if kind == "message":
                    messages.append(entry)
                    delivered += self._deliver_message(entry, outbox)
                elif kind == "membership":
                    self._apply_membership(entry, outbox)
                elif kind == "room":
                    self._apply_room_deletion(entry, outbox)
                elif kind in order.MESSAGE_CHANGES:
                    self._send(self._room_users.get(entry["room"], ()), entry["seq"],
                               events.entry(entry), outbox)
                else:
                    log.warning("hub ignores unknown log entry kind %r", kind)
            for stream, items in outbox.items():
                stream.push_many(items)
            self.position = max(self.position, event["through"])
        if messages:
            metrics.messages_delivered.inc(delivered)
            metrics.observe_delivery(messages)

    def _deliver_message(self, message, outbox):
        data = events.chat_message(message)  # once per message, not per recipient
        return self._send(self._room_users.get(message["room"], ()), message["seq"], data,
                          outbox)

    def _apply_membership(self, entry, outbox):
        seq, room, user, action = entry["seq"], entry["room"], entry["user"], entry["action"]
        data = events.named("membership", {"room": room, "user": user, "action": action})
        if action == "joined":
            self._change_membership(seq, user, room, True)
            self._send(self._room_users.get(room, ()), seq, data, outbox)
        else:
            # Everyone still in the room, and the user who is leaving, hear it first.
            self._send(self._room_users.get(room, set()) | {user}, seq, data, outbox)
            self._change_membership(seq, user, room, False)

    def _apply_room_deletion(self, entry, outbox):
        """One member's removal by the room's deletion (one entry per member)."""
        seq, room, user = entry["seq"], entry["room"], entry["user"]
        if room in self._user_rooms.get(user, ()):
            self._send([user], seq, events.named("room", {"room": room, "action": "deleted"}),
                       outbox)
        self._change_membership(seq, user, room, False)

    def _on_room(self, event):
        """A new public room: announced to every open stream."""
        data = events.named("room", {"room": event["room"], "action": event["action"],
                                     "info": event["info"]})
        with self._lock:
            self._send(list(self._streams), None, data)

    def _on_typing(self, event):
        """To the room's other members here; dropped for streams that are behind."""
        data = events.named("typing", {"room": event["room"], "user": event["user"]})
        with self._lock:
            for user_id in self._room_users.get(event["room"], ()):
                if user_id != event["user"]:
                    for stream in self._streams.get(user_id, ()):
                        stream.offer(data)

    def _on_presence(self, event):
        recipients = self.users_sharing(event["rooms"], exclude=event["user"])
        self.send_to_users(recipients, "presence",
                           {"user": event["user"], "status": event["status"]})

    def _on_invitation(self, event):
        invitation = event["invitation"]
        self.send_to_users([invitation["user"]], "invitation", invitation)

    def _on_read(self, event):
        self.send_to_users([event["user"]], "read",
                           {"room": event["room"], "message": event["message"]})

    def _on_close(self, event):
        with self._lock:
            streams = list(self._streams.get(event["user"], ()))
        for stream in streams:
            if event.get("session") in (None, stream.session_id):
                self.close(stream, event.get("reason", "signed out"))
