"""Who is online: a user with at least one open stream on any worker. Going offline waits
a grace period, so a quick reconnect (a page reload, a network blip) does not flap.

Each worker tracks its own users; a registry says whether the user has streams on any
worker: trivially this one without a broker, a Redis sorted set per user (one member per
worker, scored by a heartbeat deadline so a crashed worker's users expire) with one.
Announcements go out as `presence` bus events so every worker tells its local streams.
Only rooms of at most CHAT_PRESENCE_ROOM_LIMIT members, and direct rooms, carry them
(`announced_rooms`): a thousand people connecting to one large room would otherwise cost
a million events.
"""

import logging
import threading
import time

log = logging.getLogger(__name__)


class LocalRegistry:
    def add(self, user_id):
        """Registers this worker's streams of the user; True if the user was offline."""
        return True

    def remove(self, user_id):
        """Unregisters; True if the user is now offline everywhere."""
        return True

    def online(self, user_ids):
        return set()

    def refresh(self, user_ids):
        pass


class RedisRegistry:
    TTL = 30  # seconds a worker's claim lives without a heartbeat

    def __init__(self, client, instance):
        self.redis = client
        self.instance = instance

    @staticmethod
    def _key(user_id):
        return f"chat:online:{user_id}"

    def _live(self, pipe, user_id):
        pipe.zremrangebyscore(self._key(user_id), "-inf", time.time())
        pipe.zcard(self._key(user_id))

    def add(self, user_id):
        pipe = self.redis.pipeline()
        self._live(pipe, user_id)
        pipe.zadd(self._key(user_id), {self.instance: time.time() + self.TTL})
        pipe.expire(self._key(user_id), self.TTL)
        return pipe.execute()[1] == 0

    def remove(self, user_id):
        pipe = self.redis.pipeline()
        pipe.zrem(self._key(user_id), self.instance)
        self._live(pipe, user_id)
        return pipe.execute()[2] == 0

    def online(self, user_ids):
        user_ids = list(user_ids)
        pipe = self.redis.pipeline()
        for user_id in user_ids:
            pipe.zcount(self._key(user_id), time.time(), "+inf")
        return {u for u, count in zip(user_ids, pipe.execute()) if count}

    def refresh(self, user_ids):
        pipe = self.redis.pipeline()
        for user_id in user_ids:
            # xx: only extend claims that still exist, never revive one removed meanwhile.
            pipe.zadd(self._key(user_id), {self.instance: time.time() + self.TTL}, xx=True)
            pipe.expire(self._key(user_id), self.TTL)
        pipe.execute()


class Presence:
    def __init__(self, hub, grace_seconds, publish, registry=None,
                 announced_rooms=lambda rooms: rooms):
        self.hub = hub
        self.grace_seconds = grace_seconds
        self.publish = publish
        self.registry = registry or LocalRegistry()
        # rooms -> those of them whose members hear the user's presence
        self.announced_rooms = announced_rooms
        self._lock = threading.Lock()
        self._online = set()  # users with a stream here, or within their grace period
        self._offline_timers = {}  # user id -> Timer announcing offline
        hub.on_user_connected = self._connected
        hub.on_user_disconnected = self._disconnected

    def online_among(self, user_ids):
        user_ids = {str(u) for u in user_ids}
        with self._lock:
            local = user_ids & self._online
        try:
            return local | self.registry.online(user_ids - local)
        except Exception:  # the broker is down: this worker's view is the best there is
            log.warning("presence registry unavailable", exc_info=True)
            return local

    def _connected(self, user_id, rooms):
        with self._lock:
            timer = self._offline_timers.pop(user_id, None)
            if timer is not None:
                timer.cancel()
            if user_id in self._online:
                return
            self._online.add(user_id)
        if self._ask_registry(self.registry.add, user_id):  # newly online everywhere
            self._announce(user_id, "online", rooms)

    def _disconnected(self, user_id, rooms):
        timer = threading.Timer(self.grace_seconds, lambda: self._expire(user_id, rooms, timer))
        timer.daemon = True
        with self._lock:
            old = self._offline_timers.pop(user_id, None)
            if old is not None:
                old.cancel()
            self._offline_timers[user_id] = timer
        timer.start()

    def _expire(self, user_id, rooms, timer):
        with self._lock:
            if self._offline_timers.get(user_id) is not timer:  # cancelled or replaced
                return
            del self._offline_timers[user_id]
            if self.hub.is_connected(user_id) or user_id not in self._online:
                return
            self._online.discard(user_id)
        if self._ask_registry(self.registry.remove, user_id):  # offline everywhere
            self._announce(user_id, "offline", rooms)

    @staticmethod
    def _ask_registry(call, user_id):
        """The registry's answer; with the broker down, this worker's view (True)."""
        try:
            return call(user_id)
        except Exception:
            log.warning("presence registry unavailable", exc_info=True)
            return True

    def _announce(self, user_id, status, rooms):
        try:
            rooms = self.announced_rooms(rooms)
        except Exception:  # the database is down: no event beats a flood of them
            log.warning("presence: room sizes unavailable; not announcing", exc_info=True)
            return
        if rooms:
            self.publish({"type": "presence", "user": user_id, "status": status,
                          "rooms": sorted(rooms)})

    def heartbeat(self):
        """Keeps this worker's claims alive in the registry (called periodically)."""
        with self._lock:
            users = list(self._online)
        if users:
            self.registry.refresh(users)

    def cancel_timers(self):
        with self._lock:
            timers, self._offline_timers = list(self._offline_timers.values()), {}
        for timer in timers:
            timer.cancel()
