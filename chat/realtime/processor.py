"""Accepted messages: a bounded in-memory queue and one background thread that stores
them in batches (group commit: one transaction for everything waiting), then publishes
each stored batch on the bus.

A `202` is durable: the POST waits (bounded by CHAT_ACCEPT_TIMEOUT_SECONDS) until its
message's batch has committed. The thread keeps storing while posts wait, so many posts
share one commit and waiting costs latency, not throughput.

Ordering: each batch takes its places in the order inside its transaction (order.py), so a
batch of another worker or host waits for the counter row and commits after it.

Failures. Transient ones (database down, pool timeout, a connection cut at COMMIT) are
retried with backoff; after an ambiguous commit the retry finds the rows that were stored
and publishes them, so nothing stored misses the streams. A batch the database refuses
for any other reason is split until the refused row is found; that row alone is dropped
(logged, counted), the rest is stored. The loop itself is supervised: whatever escapes
it is logged and the loop starts again. `health()` tells /healthcheck the truth.
"""

import functools
import logging
import queue
import threading
import time
import uuid

from sqlalchemy import bindparam, exc as sa_exc, select, update
from sqlalchemy.dialects import postgresql, sqlite

from chat.extensions import db
from chat.models import Mention, Message
from chat.realtime import metrics, order

log = logging.getLogger(__name__)

_STOP = object()
STALL_SECONDS = 10
# Failures that say "try again later", never "this row cannot be stored".
TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
             sa_exc.TimeoutError)


class Overloaded(Exception):
    """The queue is full or intake has stopped: answer 503 and let the client retry."""


class Ticket:
    """One accepted message waiting for its commit. `outcome` once `done` is set:
    "stored" (`stored` is the message as stored) or "refused" (the database would not
    store it)."""

    __slots__ = ("message", "done", "outcome", "stored")

    def __init__(self, message):
        self.message = message
        self.done = threading.Event()
        self.outcome = None
        self.stored = None

    def wait(self, timeout):
        return self.done.wait(timeout)


class MessageProcessor:
    def __init__(self, app, publish, queue_size, batch_size, store=None):
        self.app = app
        # (message dicts) -> StoredBatch, one transaction; tests inject faults here.
        self.ordinals = order.RoomOrdinals()
        self.store = store or (lambda messages: store_batch(db.engine, messages,
                                                            self.ordinals))
        self.publish = publish
        self.queue_size = queue_size
        self.batch_size = batch_size
        self._queue = queue.Queue()  # bounded by `submit`, so the stop marker always fits
        self._pending = {}  # message id -> Ticket: accepted, not yet stored
        self._lock = threading.Lock()
        self._accepting = True
        self._stopped = False
        self._thread = None
        self._idle = threading.Condition(self._lock)
        self.last_commit = time.time()

    # -- intake --------------------------------------------------------------------------

    def submit(self, message):
        """Queues a message (a dict); returns its Ticket, which is an earlier one when the
        same id is already waiting. Raises Overloaded instead of waiting."""
        with self._lock:
            earlier = self._pending.get(message["id"])
            if earlier is not None:
                return earlier
            if not self._accepting or len(self._pending) >= self.queue_size:
                raise Overloaded()
            ticket = Ticket(message)
            self._pending[message["id"]] = ticket
            self._queue.put(ticket)
            metrics.queue_depth.set(len(self._pending))
        metrics.messages_accepted.inc()
        return ticket

    def pending(self, message_id):
        with self._lock:
            ticket = self._pending.get(str(message_id))
        return ticket.message if ticket is not None else None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self):
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._supervise, name="message-processor",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout=None):
        """Stops intake, stores everything already accepted, then ends the thread."""
        with self._lock:
            first_call, self._accepting = self._accepting, False
            thread = self._thread
        if thread is None:
            return
        if first_call:
            self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.error("processor stopped with %d accepted messages not yet stored",
                      len(self._pending))

    def health(self):
        """"ok", or "stalled" when the loop is not running or accepted messages have
        waited more than STALL_SECONDS without a commit."""
        with self._lock:
            thread, waiting = self._thread, list(self._pending.values())
        if thread is not None and not thread.is_alive() and not self._stopped:
            return "stalled"
        now = time.time()
        oldest = min((t.message.get("accepted_at", now) for t in waiting), default=now)
        if now - oldest > STALL_SECONDS and now - self.last_commit > STALL_SECONDS:
            return "stalled"
        return "ok"

    def wait_idle(self, timeout=10):
        """Blocks until every accepted message is stored and published (benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # -- the loop ------------------------------------------------------------------------

    def _supervise(self):
        while True:
            try:
                with self.app.app_context():
                    self._run()
                self._stopped = True
                return
            except Exception:
                metrics.processor_restarts.inc()
                log.exception("message processor failed; restarting it")
                time.sleep(0.1)

    def _run(self):
        while True:
            batch = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    if batch:
                        self._process(batch)
                    return
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._process(batch)

    def _process(self, tickets):
        try:
            self._store_splitting(tickets)
        finally:
            # However storing went, nobody waits forever and the queue slot is freed.
            with self._lock:
                for ticket in tickets:
                    self._pending.pop(ticket.message["id"], None)
                    if not ticket.done.is_set():
                        ticket.outcome = ticket.outcome or "refused"
                        ticket.done.set()
                metrics.queue_depth.set(len(self._pending))
                self._idle.notify_all()

    def _store_splitting(self, tickets):
        try:
            stored = self._store_retrying(tickets)
        except Exception:
            if len(tickets) == 1:
                metrics.messages_refused.inc()
                log.exception("dropping message %s: the database refuses it",
                              tickets[0].message["id"])
                tickets[0].outcome = "refused"
                tickets[0].done.set()
                return
            middle = len(tickets) // 2
            self._store_splitting(tickets[:middle])
            self._store_splitting(tickets[middle:])
            return
        for ticket in tickets:
            ticket.stored = stored.by_id.get(ticket.message["id"])
            ticket.outcome = "stored" if ticket.stored is not None else "refused"
            ticket.done.set()
        self._publish(stored)

    def _store_retrying(self, tickets):
        delay = 0.05
        while True:
            try:
                stored = self.store([t.message for t in tickets])
            except TRANSIENT:
                metrics.store_failures.inc()
                log.warning("storing %d messages failed; retrying in %.2fs", len(tickets),
                            delay, exc_info=True)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.last_commit = time.time()
            metrics.last_commit.set(self.last_commit)
            metrics.store_batch_size.observe(len(tickets))
            metrics.store_batches.inc()
            metrics.messages_stored.inc(len(stored.new))
            return stored

    def _publish(self, stored):
        try:
            self.publish(order.log_event(stored.new, stored.first, stored.last))
            for entry in stored.earlier:  # stored before (an ambiguous commit, a twin)
                self.publish(order.log_event([entry], entry["seq"], entry["seq"]))
        except Exception:
            # Stored is what matters: the ordered feed reads what a lost publish missed.
            log.exception("publishing %d stored messages failed", len(stored.new))


class StoredBatch:
    """The result of one transaction: places first..last; `new` entries stored by it,
    `earlier` ones whose id was already stored; `by_id` all of them by message id."""

    def __init__(self, first, last, new, earlier):
        self.first, self.last, self.new, self.earlier = first, last, new, earlier
        self.by_id = {entry["id"]: entry for entry in (*new, *earlier)}


@functools.cache
def _batch_inserts(dialect_name):
    """The two INSERTs of a batch for one dialect, built once (building them per batch
    cost more CPU than their execution)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    messages = (insert(Message).on_conflict_do_nothing(index_elements=["id"])
                .returning(Message.id))
    return messages, insert(Mention)


def store_batch(engine, batch, ordinals=None):
    """One transaction: take len(batch) places, insert, commit. `batch` holds message
    dicts (id, user, room, message, reply_to, mentions, created_at_dt, ...). An id that is
    already stored (a retry after an ambiguous commit; the same id posted to two workers)
    is not stored again: the stored row is returned among `earlier`."""
    insert_messages, insert_mentions = _batch_inserts(engine.dialect.name)
    rows = [{
        "id": uuid.UUID(m["id"]), "room_id": uuid.UUID(m["room"]),
        "user_id": uuid.UUID(m["user"]), "message": m["message"],
        "reply_to": uuid.UUID(m["reply_to"]) if m.get("reply_to") else None,
        "created_at": m["created_at_dt"],
    } for m in batch]  # built before the transaction: the counter row is locked in it
    with engine.begin() as conn:
        first = order.allocate(conn, len(batch))
        for i, row in enumerate(rows):
            row["seq"] = first + i
        order.number_in_rooms(conn, rows, first, ordinals)
        inserted = set(conn.execute(insert_messages, rows).scalars())
        if len(inserted) < len(rows):
            _close_ordinal_gaps(conn, rows, inserted)
        mentions = [{"message_id": row["id"], "user_id": uuid.UUID(user),
                     "room_id": row["room_id"], "seq": row["seq"], "position": position}
                    for row, message in zip(rows, batch) if row["id"] in inserted
                    for position, user in enumerate(message.get("mentions", ()))]
        if mentions:
            conn.execute(insert_mentions, mentions)
    if ordinals is not None:
        ordinals.committed(first, first + len(batch) - 1,
                           [row for row in rows if row["id"] in inserted])
    missing = [row["id"] for row in rows if row["id"] not in inserted]
    new = []
    for row, message in zip(rows, batch):
        if row["id"] in inserted:
            entry = {k: v for k, v in message.items() if k != "created_at_dt"}
            entry.update(kind="message", seq=row["seq"])
            new.append(entry)
    return StoredBatch(first, first + len(batch) - 1, new, _stored(engine, missing))


def _close_ordinal_gaps(conn, rows, inserted):
    """Rows already stored (a retry after an ambiguous commit, the same id posted to two
    workers) took ordinals they do not use. The room list subtracts ordinals to count
    messages, so they must have no gaps: the inserted rows are numbered again from where
    their room's numbering began, still under the counter row's lock. Rare."""
    newest = {}
    for row in rows:  # in seq order: a room's first row holds its lowest ordinal
        newest.setdefault(row["room_id"], row["room_ordinal"] - 1)
    moved = []
    for row in rows:
        if row["id"] in inserted:
            newest[row["room_id"]] += 1
            if row["room_ordinal"] != newest[row["room_id"]]:
                row["room_ordinal"] = newest[row["room_id"]]
                moved.append({"moved_id": row["id"], "ordinal": row["room_ordinal"]})
    if moved:
        conn.execute(update(Message).where(Message.id == bindparam("moved_id"))
                     .values(room_ordinal=bindparam("ordinal")), moved)


def _stored(engine, message_ids):
    """The log entries of messages already stored under these ids, in order."""
    if not message_ids:
        return []
    with engine.connect() as conn:
        found = [Message(**row._mapping) for row in conn.execute(
            select(Message.__table__).where(Message.id.in_(message_ids)).order_by(Message.seq))]
        return order.message_entries(conn, found)
