"""Per-user posting rate limit (CHAT_RATE_LIMIT), a moving window kept in memory, or in
Redis when REDIS_URL is set so every worker and host counts against one budget."""

import logging
import math
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from chat.errors import APIError

log = logging.getLogger(__name__)


class PostLimiter:
    def __init__(self, rate, redis_url=None):
        self.item = parse(rate)
        storage = storage_from_string(redis_url or "memory://")
        self.limiter = MovingWindowRateLimiter(storage)

    def hit(self, user_id):
        """Counts one post; raises 429 with Retry-After when over the limit."""
        key = str(user_id)
        try:
            if self.limiter.hit(self.item, "posts", key):
                return
        except Exception:
            # The broker is down: accepting posts beats refusing every one of them.
            log.warning("rate limit storage unavailable; not limiting", exc_info=True)
            return
        stats = self.limiter.get_window_stats(self.item, "posts", key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise APIError(429, "rate_limited", "Too many messages; slow down",
                       {"Retry-After": str(retry_after)})


def init_app(app):
    app.extensions["post_limiter"] = PostLimiter(app.config["CHAT_RATE_LIMIT"],
                                                 app.config["REDIS_URL"])
