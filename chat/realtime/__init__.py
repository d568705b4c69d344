"""Real-time delivery: the processor stores accepted messages, the bus carries events,
the ordered feed puts log entries in order, the hub hands them to open streams.
`init_app` wires one set per app; `start` runs the background work (per worker, after
fork: gunicorn.conf.py calls it, and the first request that needs it does too)."""

import logging
import secrets
import threading
import uuid
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import select

from chat.extensions import db, insert_for
from chat.models import Counter
from chat.realtime import order
from chat.realtime.access_memory import AccessMemory
from chat.realtime.bus import LocalBus
from chat.realtime.feed import OrderedFeed
from chat.realtime.hub import Hub
from chat.realtime.presence import Presence, RedisRegistry
from chat.realtime.processor import MessageProcessor
from chat.realtime.shared_reads import SharedReads

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
FEED_POLL_SECONDS = 0.5
DEPLOYMENT_ID = "deployment_id"


class Realtime:
    def __init__(self, app):
        config = app.config
        self.app = app
        self.hub = Hub(config["CHAT_MAX_STREAMS_PER_USER"], config["CHAT_STREAM_BUFFER"])
        # Sessions and memberships of the hot routes, kept exact by the same events.
        self.access = AccessMemory(config["CHAT_ACCESS_MEMORY_SECONDS"])
        self.shared_reads = SharedReads()  # one replay read for a storm of resumes
        self.feed = OrderedFeed(self._fetch_range, self._committed_seq, self._apply_log)
        registry = None
        if config["REDIS_URL"]:
            from chat.realtime.redis_bus import RedisBus

            self.bus = RedisBus(config["REDIS_URL"], self._deployment_id)
            # Log entries missed meanwhile are read from the database by the feed, but
            # other events (sign-outs, invitations, presence) may be lost: streams
            # reconnect and reload.
            self.bus.on_reconnect = self._bus_reconnected
            # While the broker is unreachable, sign-outs made elsewhere cannot arrive:
            # nothing is answered from memory until the subscription is up again.
            self.access.suspend()
            self.bus.on_disconnect = self.access.suspend
            self.bus.on_subscribed = self.access.resume
            registry = RedisRegistry(self.bus.redis, self.bus.instance)
        else:
            self.bus = LocalBus()
        self.presence = Presence(self.hub, config["CHAT_PRESENCE_GRACE_SECONDS"],
                                 self.bus.publish, registry, self._presence_rooms)
        self.presence_room_limit = config["CHAT_PRESENCE_ROOM_LIMIT"]
        self.processor = MessageProcessor(app, self.bus.publish, config["CHAT_QUEUE_SIZE"],
                                          config["CHAT_BATCH_SIZE"])
        # Streams in their database phase at once (chat/realtime/stream.py): the pool's
        # size, so its overflow stays free for sign-ins and posts during a storm.
        self.opening_slots = threading.BoundedSemaphore(config["DATABASE_POOL_SIZE"])
        self.bus.subscribe(self._receive)
        self._started = False
        self._stopping = threading.Event()

    def start(self):
        if self._started:
            return
        self._started = True
        try:
            self.feed.start()
        except Exception:  # the database is down: the feed starts on its first use
            log.warning("ordered feed could not start yet", exc_info=True)
        self.bus.start()
        self.processor.start()
        self._every(HEARTBEAT_SECONDS, "presence heartbeat", self.presence.heartbeat)
        self._every(FEED_POLL_SECONDS, "ordered feed poll", self.feed.poll)

    def _observe(self, event):
        """What remembers answers forgets those an event changes."""
        self.access.observe(event)
        self.shared_reads.observe(event)

    def _receive(self, event):
        self._observe(event)
        if event["type"] == "log":
            self.feed.offer(event)
        else:
            self.hub.handle(event)

    def _apply_log(self, event):
        self._observe(event)  # entries read from the database were never published
        self.hub.handle(event)

    def _bus_reconnected(self):
        self.shared_reads.clear()
        self.hub.close_all("event bus reconnected")

    def publish(self, event):
        # What this worker changed is forgotten before its request answers, whatever the
        # bus does with the event.
        self._observe(event)
        self.bus.publish(event)

    def shutdown(self, timeout=None):
        """Graceful stop: end every stream (clients reconnect elsewhere and resume), stop
        intake, and store everything already accepted."""
        log.info("realtime shutdown: closing %d streams, draining the queue",
                 self.hub.stream_count())
        self._stopping.set()
        self.hub.shutdown("server shutting down")
        self.processor.stop(timeout)
        self.presence.cancel_timers()
        self.bus.stop()

    def _every(self, seconds, what, call):
        """Runs `call` every `seconds` until shutdown, in a thread that survives failures."""
        def loop():
            while not self._stopping.wait(seconds):
                try:
                    call()
                except Exception:
                    log.warning("%s failed", what, exc_info=True)

        threading.Thread(target=loop, name=what, daemon=True).start()

    # The database is the log the Redis bus reads missed messages from.

    @contextmanager
    def _database(self):
        """A session for the background threads, closed (connection returned) after."""
        with self.app.app_context():
            try:
                yield db.session
            finally:
                db.session.close()

    def _committed_seq(self):
        with self._database() as session:
            return order.committed_seq(session)

    def _deployment_id(self):
        """A random id kept in the database: every host of one deployment shares it."""
        with self._database() as session:
            query = select(Counter.value).where(Counter.name == DEPLOYMENT_ID)
            if session.scalar(query) is None:
                session.execute(insert_for(db.engine)(Counter).values(
                    name=DEPLOYMENT_ID, value=secrets.randbits(62)).on_conflict_do_nothing())
                session.commit()
            return session.scalar(query)

    def _presence_rooms(self, rooms):
        """The rooms among `rooms` that carry presence: direct ones, and those of at
        most CHAT_PRESENCE_ROOM_LIMIT members."""
        if not rooms:
            return set()
        with self._database() as session:
            return {str(room) for room in order.small_rooms(
                session, [uuid.UUID(r) for r in rooms], self.presence_room_limit)}

    def _fetch_range(self, first, last):
        with self._database() as session:
            return order.read_range(session, first, last)


def init_app(app):
    app.extensions["realtime"] = Realtime(app)


def get_realtime():
    """This app's realtime set, started on first use (idempotent)."""
    realtime = current_app.extensions["realtime"]
    realtime.start()
    return realtime


def publish(event_type, **payload):
    # Publishing needs no background work running (CLI commands publish too).
    current_app.extensions["realtime"].publish({"type": event_type, **payload})
