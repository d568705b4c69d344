"""Who is online: a user with at least one open stream. Going offline waits a grace
period, so a quick reconnect (a page reload, a network blip) does not flap."""

import threading


class Presence:
    def __init__(self, hub, grace_seconds):
        self.hub = hub
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._online = set()
        self._offline_timers = {}  # user id -> Timer announcing offline
        hub.on_user_connected = self._connected
        hub.on_user_disconnected = self._disconnected

    def is_online(self, user_id):
        with self._lock:
            return str(user_id) in self._online

    def _connected(self, user_id, rooms):
        with self._lock:
            timer = self._offline_timers.pop(user_id, None)
            if timer is not None:
                timer.cancel()
            if user_id in self._online:
                return
            self._online.add(user_id)
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
        self._announce(user_id, "offline", rooms)

    def _announce(self, user_id, status, rooms):
        recipients = self.hub.users_sharing(rooms, exclude=user_id)
        self.hub.send_to_users(recipients, "presence", {"user": user_id, "status": status})

    def cancel_timers(self):
        with self._lock:
            timers, self._offline_timers = list(self._offline_timers.values()), {}
        for timer in timers:
            timer.cancel()
