"""Rate limits, moving windows kept in memory, or in Redis when REDIS_URL is set so every
worker and host counts against one budget:

- posts per user (CHAT_RATE_LIMIT);
- failed sign-ins per name and per client address (CHAT_LOGIN_RATE_LIMIT): once either is
  used up, every sign-in for that name or from that address is refused until the window
  passes, even with the right password, so guessing gains nothing;
- sign-ups per client address (CHAT_SIGNUP_RATE_LIMIT).

When the storage (Redis) is unreachable nothing is limited: refusing every post or sign-in
during a broker outage would be worse than a few unthrottled ones. A warning is logged.
"""

import logging
import math
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


class _OncePer:
    """The `_Window` interface for "one per `seconds`" in this process: the time of the
    last counted hit per key, and a sweep of expired keys once the dict has doubled."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._last = {}
        self._sweep_at = 1024

    def allowed(self, key):
        last = self._last.get(key)
        return last is None or self.clock() - last >= self.seconds

    def hit(self, key):
        if not self.allowed(key):
            return False
        self._last[key] = self.clock()
        if len(self._last) >= self._sweep_at:
            cutoff = self.clock() - self.seconds
            self._last = {k: t for k, t in self._last.items() if t > cutoff}
            self._sweep_at = max(1024, 2 * len(self._last))
        return True


class Limits:
    def __init__(self, config, scope=None):
        storage = storage_from_string(config["REDIS_URL"] or "memory://")
        limiter = MovingWindowRateLimiter(storage)
        self.posts = _Window(limiter, config["CHAT_RATE_LIMIT"], "posts")  # user ids: unique
        login = config["CHAT_LOGIN_RATE_LIMIT"]
        self.login_names = _Window(limiter, login, "login-name", scope)
        self.login_addresses = _Window(limiter, login, "login-addr", scope)
        self.signups = _Window(limiter, config["CHAT_SIGNUP_RATE_LIMIT"], "signup", scope)
        # API.md: typing is announced at most once per 3 s per user and room. Across the
        # fleet that is a moving window in Redis; in one process a dict does it for a
        # fraction of the cost (limits' memory storage sweeps every key every 10 ms, which
        # took 7 % of a worker under a typing storm: docs/benchmarks.md, section 7).
        self.typing = (_Window(limiter, TYPING_RATE, "typing") if config["REDIS_URL"]
                       else _OncePer(TYPING_SECONDS))
        # And at most TYPING_ROOM_RATE announcements per room: each one is written to
        # every member's streams, so a crowd typing at once would otherwise cost
        # typists × members deliveries (a page names only a few typists anyway).
        self.typing_rooms = _Window(limiter, TYPING_ROOM_RATE, "typing-room")

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
