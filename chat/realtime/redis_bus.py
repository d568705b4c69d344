"""The bus across workers and hosts: Redis pub/sub carries events; the database's seq
order makes chat-message delivery complete and ordered whatever Redis reorders or drops.

Every worker's processor publishes its stored batches. Two batches stored by different
workers can reach Redis in either order, and a publish can fail while the rows are safely
committed, so each receiving worker runs an `OrderedFeed`: it remembers the next seq it
expects and, when a batch starts beyond it, first reads the missing range from the
database. Seqs become visible in order (see processor.py), so by the time a later batch
was published, everything before it is committed and that read is complete.

Other events (membership, room, invitation, read, close, presence) are applied to the
local hub at once, so the worker that changed something follows it before it answers, and
reach the other workers through the channel; a worker ignores its own echo.

When the subscription drops, events may have been missed: on reconnecting, the worker
closes its streams (clients reconnect, reload their rooms and resume by Last-Event-ID) and
skips its feed to the present.
"""

import json
import logging
import threading
import time
import uuid

import redis

from chat.realtime.bus import Bus

log = logging.getLogger(__name__)

# Beyond this many missed messages a worker closes its streams instead of replaying them
# live: the clients' resume reads them from the database in one go.
MAX_GAP = 5000


class OrderedFeed:
    def __init__(self, fetch_range, committed_seq, deliver, on_skip):
        self.fetch_range = fetch_range  # (first, last) -> [stored message dicts], seq order
        self.committed_seq = committed_seq  # () -> highest committed seq
        self.deliver = deliver
        self.on_skip = on_skip
        self._next = None
        self._lock = threading.Lock()

    def reset(self):
        """Start from the present (at start-up and after losing the subscription)."""
        with self._lock:
            self._next = self.committed_seq() + 1

    def offer(self, event):
        messages = event["messages"]
        if not messages:
            return
        first, last = messages[0]["seq"], messages[-1]["seq"]
        with self._lock:
            if self._next is None or last < self._next:
                return  # already delivered through a gap read
            if first > self._next:
                if first - self._next > MAX_GAP:
                    self.on_skip()
                else:
                    self.deliver({"type": "messages",
                                  "messages": self.fetch_range(self._next, first - 1)})
            fresh = [m for m in messages if m["seq"] >= self._next]
            self.deliver({"type": "messages", "messages": fresh})
            self._next = last + 1


class RedisBus(Bus):
    def __init__(self, url, fetch_range, committed_seq, deployment_id):
        super().__init__()
        self.instance = uuid.uuid4().hex
        # Deployments sharing one Redis must not hear each other: the channel is named
        # after an id stored in the database, the same for every host of a deployment.
        self._deployment_id = deployment_id
        self._channel = None
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._subscriber = redis.Redis.from_url(url, socket_connect_timeout=2,
                                                health_check_interval=10)
        self.feed = OrderedFeed(fetch_range, committed_seq, self._deliver,
                                on_skip=lambda: self.on_reconnect())
        self.on_reconnect = lambda: None  # set by the owner: close every local stream
        self._running = False
        self._thread = None
        self.connected = threading.Event()

    def publish(self, event):
        if event["type"] != "messages":
            self._deliver(event)  # here at once; other workers through the channel
        data = json.dumps({**event, "origin": self.instance}, separators=(",", ":"))
        try:
            self.redis.publish(self.channel, data)
        except redis.RedisError:
            log.exception("publishing a %s event failed", event["type"])
            if event["type"] == "messages":
                self.feed.offer(event)  # this worker's streams still get it

    @property
    def channel(self):
        if self._channel is None:
            self._channel = f"chat:{self._deployment_id()}:events"
        return self._channel

    def start(self):
        self._running = True
        self._thread = threading.Thread(target=self._listen, name="redis-bus", daemon=True)
        self._thread.start()

    def stop(self):
        self._running = False

    def check(self):
        self.redis.ping()
        if not self.connected.is_set():
            raise ConnectionError("not subscribed to the event channel")

    def _listen(self):
        delay = 0.1
        first = True
        while self._running:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.feed.reset()
                if not first:
                    log.warning("bus subscription restored; closing streams so they resume")
                    self.on_reconnect()
                first, delay = False, 0.1
                self.connected.set()
                while self._running:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._receive(json.loads(message["data"]))
            except redis.RedisError:
                self.connected.clear()
                log.warning("bus subscription lost; retrying in %.1fs", delay, exc_info=True)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("bus listener error; resubscribing")
                time.sleep(delay)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass

    def _receive(self, event):
        origin = event.pop("origin", None)
        if event["type"] == "messages":
            self.feed.offer(event)
        elif origin != self.instance:
            self._deliver(event)
