"""Settings read from the environment, with defaults that suit a laptop.

Every name here is part of the public contract (API.md, "Running it"); bad values fail
fast at start-up instead of surfacing as odd behaviour later.
"""

import os
import re
from pathlib import Path

_RATE = re.compile(r"^\s*\d+\s*/\s*(second|minute|hour|day)s?\s*$")


class ConfigError(ValueError):
    pass


def _int(env, name, default, minimum=1):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env, name, default, minimum=0.0):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _rate(env, name, default):
    rate = env.get(name) or default
    if not _RATE.match(rate):
        raise ConfigError(f"{name} must look like {default!r} (N/second|minute|hour|day), "
                          f"got {rate!r}")
    return rate


def database_url(env, instance_path):
    url = env.get("DATABASE_URL")
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "chat.sqlite")
    return normalize_database_url(url)


def normalize_database_url(url):
    # PaaS providers still hand out `postgres://`, which SQLAlchemy dropped; and a bare
    # `postgresql://` would pick psycopg 3 in SQLAlchemy 2.1, while we ship psycopg2.
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme):]
    return url


def from_environment(instance_path, env=None):
    env = os.environ if env is None else env
    return {
        "SQLALCHEMY_DATABASE_URI": database_url(env, instance_path),
        "DATABASE_POOL_SIZE": _int(env, "DATABASE_POOL_SIZE", 5),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        # Ours: the longest a client may take to send a request body (then 408).
        "CHAT_BODY_TIMEOUT_SECONDS": _float(env, "CHAT_BODY_TIMEOUT_SECONDS", 10.0,
                                            minimum=0.1),
        "CHAT_SESSION_DAYS": _int(env, "CHAT_SESSION_DAYS", 30),
        "CHAT_ACCESS_MEMORY_SECONDS": _float(env, "CHAT_ACCESS_MEMORY_SECONDS", 60.0),
        "CHAT_KEEPALIVE_SECONDS": _float(env, "CHAT_KEEPALIVE_SECONDS", 15.0, minimum=0.05),
        "CHAT_REPLAY_LIMIT": _int(env, "CHAT_REPLAY_LIMIT", 10000),
        "CHAT_STREAM_BUFFER": _int(env, "CHAT_STREAM_BUFFER", 1000),
        "CHAT_MAX_STREAMS_PER_USER": _int(env, "CHAT_MAX_STREAMS_PER_USER", 10),
        "CHAT_MAX_MESSAGE_LENGTH": _int(env, "CHAT_MAX_MESSAGE_LENGTH", 4000),
        "CHAT_RATE_LIMIT": _rate(env, "CHAT_RATE_LIMIT", "20/second"),
        "CHAT_LOGIN_RATE_LIMIT": _rate(env, "CHAT_LOGIN_RATE_LIMIT", "10/minute"),
        # Ours (API.md is silent on sign-ups): per client address, documented in README.
        "CHAT_SIGNUP_RATE_LIMIT": _rate(env, "CHAT_SIGNUP_RATE_LIMIT", "20/minute"),
        "CHAT_QUEUE_SIZE": _int(env, "CHAT_QUEUE_SIZE", 10000),
        "CHAT_PRESENCE_GRACE_SECONDS": _float(env, "CHAT_PRESENCE_GRACE_SECONDS", 5.0),
        "CHAT_PRESENCE_ROOM_LIMIT": _int(env, "CHAT_PRESENCE_ROOM_LIMIT", 100),
        "CHAT_ACCEPT_TIMEOUT_SECONDS": _float(env, "CHAT_ACCEPT_TIMEOUT_SECONDS", 5.0,
                                              minimum=0.01),
        # Not part of the public contract: the processor's batch cap (benchmarks vary it)
        # and the password KDF (tests use a cheap one to stay fast).
        "CHAT_BATCH_SIZE": _int(env, "CHAT_BATCH_SIZE", 500),
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD") or "scrypt",
    }
