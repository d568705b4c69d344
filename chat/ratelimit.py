"""Rate limits, moving windows kept in this process's memory, or in Redis when REDIS_URL
is set so every worker and host counts against one budget:

- posts per user (CHAT_RATE_LIMIT);
- failed sign-ins per name and per client address (CHAT_LOGIN_RATE_LIMIT): once either is
  used up, every sign-in for that name or from that address is refused until the window
  passes, even with the right password, so guessing gains nothing;
- sign-ups per client address (CHAT_SIGNUP_RATE_LIMIT).

When the storage (Redis) is unreachable nothing is limited: refusing every post or sign-in
during a broker outage would be worse than a few unthrottled ones. A warning is logged.
"""

import collections
import logging
import math
import threading
import time

from flask import current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from chat.errors import APIError

log = logging.getLogger(__name__)

# gunicorn's keep-alive (gunicorn.conf.py). A client that retries exactly when told may
# reuse a kept-alive connection just as the server closes it; never say this number.
KEEPALIVE_SECONDS = 2
_WARN_EVERY = 60.0


def retry_after(seconds):
    """Whole seconds for a Retry-After header: at least 1, never the keep-alive time."""
    value = max(1, math.ceil(seconds))
    return str(value + 1 if value == KEEPALIVE_SECONDS else value)


class _Window:
    """One limit in one shared storage; `scope` (called once, lazily) keeps deployments
    that share a Redis apart."""

    def __init__(self, limiter, rate, namespace, scope=None):
        self.limiter = limiter
        self.item = parse(rate)
        self.namespace = namespace
        self._scope = scope
        self._prefix = None
        self._warned_at = 0.0

    def _key(self, key):
        if self._prefix is None:
            self._prefix = str(self._scope()) if self._scope else ""
        return (self.namespace, self._prefix, str(key))

    def _unavailable(self):
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("rate limit storage unavailable; not limiting %s", self.namespace,
                        exc_info=True)

    def hit(self, key):
        """Counts one; False when that was over the limit (storage down: True)."""
        try:
            return self.limiter.hit(self.item, *self._key(key))
        except Exception:
            self._unavailable()
            return True

    def allowed(self, key):
        """Whether one more would be within the limit, without counting it."""
        try:
            return self.limiter.test(self.item, *self._key(key))
        except Exception:
            self._unavailable()
            return True

    def seconds_left(self, key):
        try:
            stats = self.limiter.get_window_stats(self.item, *self._key(key))
            return stats.reset_time - time.time()
        except Exception:
            return 1


TYPING_SECONDS = 3
TYPING_RATE = f"1/{TYPING_SECONDS}second"
TYPING_ROOM_RATE = "10/second"


class _LocalWindow:
    """The `_Window` interface in this process, for a deployment without Redis: per key,
    the times of its last `amount` counted hits. One more is allowed while there are fewer,
    or once the oldest of them is `seconds` old: the same moving window as limits', at
    O(1) a hit. limits' own memory storage keeps a timer thread that sweeps every key
    every 10 ms and is started again by the next hit once it has run, which cost 10 % of
    a post's request handling (docs/benchmarks.md, section 9) and 7 % of a worker under a
    typing storm (section 7). Here keys whose newest hit is `seconds` old are dropped
    instead, once the dict has doubled."""

    def __init__(self, amount, seconds, clock=time.monotonic):
        self.amount = amount
        self.seconds = seconds
        self.clock = clock
        self._hits = {}  # key -> deque of the times of its last `amount` hits
        self._sweep_at = 1024
        self._lock = threading.Lock()  # gevent or not, a hit is one step

    @classmethod
    def of(cls, rate):
        item = parse(rate)
        return cls(item.amount, item.get_expiry())

    def _full(self, hits, now):
        return len(hits) == self.amount and now - hits[0] < self.seconds

    def allowed(self, key):
        hits = self._hits.get(key)
        return hits is None or not self._full(hits, self.clock())

    def hit(self, key):
        with self._lock:
            now = self.clock()
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._sweep_at:
                    self._sweep(now)
                hits = self._hits[key] = collections.deque(maxlen=self.amount)
            elif self._full(hits, now):
                return False
            hits.append(now)
            return True

    def seconds_left(self, key):
        """Until one more is allowed (0 when it already is)."""
        hits = self._hits.get(key)
        if hits is None or not self._full(hits, self.clock()):
            return 0.0
        return hits[0] + self.seconds - self.clock()

    def _sweep(self, now):
        cutoff = now - self.seconds
        self._hits = {k: hits for k, hits in self._hits.items() if hits and hits[-1] > cutoff}
        self._sweep_at = max(1024, 2 * len(self._hits))


class Limits:
    def __init__(self, config, scope=None):
        if config["REDIS_URL"]:  # one budget for every worker and host
            limiter = MovingWindowRateLimiter(storage_from_string(config["REDIS_URL"]))

            def window(rate, namespace, scope=None):
                return _Window(limiter, rate, namespace, scope)
        else:
            def window(rate, namespace, scope=None):
                return _LocalWindow.of(rate)

        self.posts = window(config["CHAT_RATE_LIMIT"], "posts")  # user ids: unique
        login = config["CHAT_LOGIN_RATE_LIMIT"]
        self.login_names = window(login, "login-name", scope)
        self.login_addresses = window(login, "login-addr", scope)
        self.signups = window(config["CHAT_SIGNUP_RATE_LIMIT"], "signup", scope)
        # API.md: typing is announced at most once per 3 s per user and room.
        self.typing = window(TYPING_RATE, "typing")
        # And at most TYPING_ROOM_RATE announcements per room: each one is written to
        # every member's streams, so a crowd typing at once would otherwise cost
        # typists × members deliveries (a page names only a few typists anyway).
        self.typing_rooms = window(TYPING_ROOM_RATE, "typing-room")

    def typing_room_full(self, room_id):
        """Whether the room has had its TYPING_ROOM_RATE of announcements just now."""
        return not self.typing_rooms.allowed(room_id)

    def typing_announced(self, user_id, room_id):
        """True for the first typing call of the user in the room within 3 s, unless the
        room has had its TYPING_ROOM_RATE of announcements (then the call counts for
        nothing: the user's next call may be announced)."""
        if self.typing_room_full(room_id):
            return False
        return self.typing.hit(f"{user_id}:{room_id}") and self.typing_rooms.hit(room_id)

    def hit_post(self, user_id):
        """Counts one post; raises 429 with Retry-After when over the limit."""
        if not self.posts.hit(user_id):
            raise _rate_limited("Too many messages; slow down",
                                self.posts.seconds_left(user_id))

    def check_login(self, name):
        """Before checking a password: 429 while the name or the address is throttled."""
        keys = [(self.login_names, name.lower()), (self.login_addresses, client_address())]
        blocked = [window.seconds_left(key) for window, key in keys
                   if not window.allowed(key)]
        if blocked:
            raise _rate_limited("Too many failed sign-ins; try again later", max(blocked))

    def login_failed(self, name):
        self.login_names.hit(name.lower())
        self.login_addresses.hit(client_address())

    def hit_signup(self):
        address = client_address()
        if not self.signups.hit(address):
            raise _rate_limited("Too many sign-ups from this address; try again later",
                                self.signups.seconds_left(address))


def client_address():
    # ProxyFix (chat/__init__.py) has already put the router's X-Forwarded-For here.
    return request.remote_addr or "unknown"


def _rate_limited(message, seconds):
    return APIError(429, "rate_limited", message, {"Retry-After": retry_after(seconds)})


def get_limits():
    return current_app.extensions["limits"]


class PostLimiter:
    """`hit(user_id)` of the posting limit (chat/api/messages.py calls it)."""

    def __init__(self, limits):
        self.hit = limits.hit_post


def _deployment_scope(app):
    """Deployments sharing one Redis: names and addresses are per deployment (the bus
    channel is named after the deployment's id, read from the database once)."""
    return app.extensions["realtime"].bus.channel


def init_app(app):
    scope = (lambda: _deployment_scope(app)) if app.config["REDIS_URL"] else None
    limits = Limits(app.config, scope)
    app.extensions["limits"] = limits
    app.extensions["post_limiter"] = PostLimiter(limits)
