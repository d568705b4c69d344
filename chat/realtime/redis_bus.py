"""The bus across workers and hosts: Redis pub/sub carries events.

Log events (messages and membership changes, each with its place in the order) go to
every worker, the publisher included, and each worker's ordered feed (feed.py) puts them
in order, reading from the database whatever Redis reorders or drops.

Other events (invitation, read, close, presence, room created) are applied to the local
hub at once and reach the other workers through the channel; a worker ignores its own
echo of those.

When the subscription drops, the feed keeps catching up from the database (its poll),
but other events may have been missed: on reconnecting, the worker closes its streams
(clients reconnect, reload their rooms and resume by Last-Event-ID).
"""

import json
import logging
import threading
import time
import uuid

import redis

from chat.realtime.bus import Bus

log = logging.getLogger(__name__)

class RedisBus(Bus):
    def __init__(self, url, deployment_id):
        super().__init__()
        self.instance = uuid.uuid4().hex
        # Deployments sharing one Redis must not hear each other: the channel is named
        # after an id stored in the database, the same for every host of a deployment.
        self._deployment_id = deployment_id
        self._channel = None
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._subscriber = redis.Redis.from_url(url, socket_connect_timeout=2,
                                                health_check_interval=10)
        self.on_reconnect = lambda: None  # set by the owner: close every local stream
        # Set by the owner: events may be missed from on_disconnect until on_subscribed
        # (called on every subscription, the first one included).
        self.on_disconnect = lambda: None
        self.on_subscribed = lambda: None
        self._running = False
        self._thread = None
        self.connected = threading.Event()

    def publish(self, event):
        if event["type"] != "log":
            self._deliver(event)  # here at once; other workers through the channel
        data = json.dumps({**event, "origin": self.instance}, separators=(",", ":"))
        try:
            self.redis.publish(self.channel, data)
        except redis.RedisError:
            log.exception("publishing a %s event failed", event["type"])
            if event["type"] == "log":
                self._deliver(event)  # this worker's streams still get it

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
                if not first:
                    log.warning("bus subscription restored; closing streams so they resume")
                    self.on_reconnect()
                self.on_subscribed()
                first, delay = False, 0.1
                self.connected.set()
                while self._running:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._receive(json.loads(message["data"]))
            except redis.RedisError:
                if self.connected.is_set():
                    self.on_disconnect()
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
        if event["type"] == "log" or origin != self.instance:
            self._deliver(event)  # log entries: our own too, the ordered feed sorts them
