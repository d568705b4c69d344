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

import logging
import queue
import threading
import time

from sqlalchemy import exc as sa_exc

from chat.extensions import db
from chat.realtime import metrics, order
from chat.realtime.batch_store import store_batch

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
        self.store = store or (lambda messages: store_batch(db.engine, messages))
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
