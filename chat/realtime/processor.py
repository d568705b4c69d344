"""Accepted messages: a bounded in-memory queue, one background thread that stores them
in batches (one transaction each), then publishes the stored batch on the bus.

Ordering. Each batch takes its sequence numbers by incrementing the `message_seq` counter
row inside the batch's transaction. That row stays locked until the commit, so a second
batch (another worker, another host) waits, and its higher numbers become visible only
after the lower ones: readers paging by seq or resuming by seq never skip a late commit.

Durability. A batch that fails to commit is retried with backoff until it succeeds; the
request already got its 202, so dropping it is not an option. On shutdown, intake stops
(503) and the queue is drained before the thread exits.
"""

import logging
import queue
import threading
import time
import uuid

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError

from chat.extensions import db, insert_for
from chat.models import MESSAGE_SEQ, Counter, Message
from chat.realtime import metrics

log = logging.getLogger(__name__)

_STOP = object()


class Overloaded(Exception):
    """The queue is full or intake has stopped: answer 503 and let the client retry."""


class MessageProcessor:
    def __init__(self, app, publish, queue_size, batch_size):
        self.app = app
        self.publish = publish
        self.queue_size = queue_size
        self.batch_size = batch_size
        self._queue = queue.Queue()  # bounded by `submit`, so the stop marker always fits
        self._pending = {}  # message id -> message: accepted, not yet stored
        self._lock = threading.Lock()
        self._accepting = True
        self._thread = None
        self._idle = threading.Condition(self._lock)

    # -- intake --------------------------------------------------------------------------

    def submit(self, message):
        """Queues a message (a dict); returns the accepted message, which is an earlier
        one when the same id is already waiting. Raises Overloaded instead of waiting."""
        with self._lock:
            earlier = self._pending.get(message["id"])
            if earlier is not None:
                return earlier
            if not self._accepting or len(self._pending) >= self.queue_size:
                raise Overloaded()
            self._pending[message["id"]] = message
            self._queue.put(message)
            metrics.queue_depth.set(len(self._pending))
        metrics.messages_accepted.inc()
        return message

    def pending(self, message_id):
        with self._lock:
            return self._pending.get(str(message_id))

    # -- lifecycle -----------------------------------------------------------------------

    def start(self):
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="message-processor",
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

    def _run(self):
        with self.app.app_context():
            stopping = False
            while not stopping:
                batch = []
                item = self._queue.get()
                while True:
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                    if len(batch) >= self.batch_size:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._process(batch)

    def _process(self, batch):
        stored = self._store_with_retry(batch)
        if stored:
            try:
                self.publish({"type": "messages", "messages": stored})
            except Exception:
                # Stored is what matters; streams that missed it resume from history.
                log.exception("publishing %d stored messages failed", len(stored))
        with self._lock:
            for message in batch:
                self._pending.pop(message["id"], None)
            metrics.queue_depth.set(len(self._pending))
            self._idle.notify_all()

    def _store_with_retry(self, batch):
        try:
            return self._retrying(batch)
        except IntegrityError:
            # A row the database refuses (its author or room vanished meanwhile) must not
            # block the rest: store one by one and drop only what is refused.
            stored = []
            for message in batch:
                try:
                    stored += self._retrying([message])
                except IntegrityError:
                    log.error("dropping message %s: refused by the database", message["id"])
            return stored

    def _retrying(self, batch):
        """Stores the batch, retrying with backoff while the database is unreachable."""
        delay = 0.05
        while True:
            try:
                return self._store(batch)
            except IntegrityError:
                raise
            except DBAPIError:
                metrics.store_failures.inc()
                log.exception("storing %d messages failed; retrying in %.2fs", len(batch), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _store(self, batch):
        stored = store_batch(db.engine, batch)
        metrics.store_batches.inc()
        metrics.messages_stored.inc(len(stored))
        return stored


def store_batch(engine, batch):
    """One transaction: allocate len(batch) sequence numbers, insert, commit. `batch` holds
    message dicts (id, user, room, message, created_at_dt). Returns the stored ones (with
    "seq", without "created_at_dt"), in seq order."""
    insert = insert_for(engine)
    with engine.begin() as conn:
        last = conn.execute(
            update(Counter).where(Counter.name == MESSAGE_SEQ)
            .values(value=Counter.value + len(batch)).returning(Counter.value)
        ).scalar_one()
        first = last - len(batch) + 1
        rows = [{
            "id": uuid.UUID(m["id"]), "seq": first + i, "room_id": uuid.UUID(m["room"]),
            "user_id": uuid.UUID(m["user"]), "message": m["message"],
            "created_at": m["created_at_dt"],
        } for i, m in enumerate(batch)]
        # A duplicate id (posted to two workers at once) is stored once; the loser is
        # skipped, never an error that would block the batch.
        statement = insert(Message).on_conflict_do_nothing(index_elements=["id"])
        inserted = set(conn.execute(statement.returning(Message.id), rows).scalars())
    stored = []
    for row, message in zip(rows, batch):
        if row["id"] in inserted:
            out = {k: v for k, v in message.items() if k != "created_at_dt"}
            out["seq"] = row["seq"]
            stored.append(out)
    return stored
