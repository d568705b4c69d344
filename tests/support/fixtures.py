"""pytest fixtures for tests against the real server.

Register from a conftest with ``pytest_plugins = ["tests.support.fixtures"]``.

- ``pg_database`` (module): a fresh PostgreSQL database URL, dropped afterwards. Skipped
  when PostgreSQL is unreachable, except under ``CI=true`` where that is a failure.
- ``server_env`` (module): the environment every test server gets (database + test speed-ups).
- ``migrated_database`` (module): ``pg_database`` after ``flask db upgrade`` + ``flask seed``.
- ``live_server`` (module): a started ``ServerProcess`` on that database.
- ``server_factory`` (function): ``make(env=None, start=True, **kw) -> ServerProcess`` on the
  module's database, for custom settings and restarts; everything it made is stopped after.
- ``client_factory`` (function): ``make(name=None) -> ChatClient`` registered and logged in
  on ``live_server``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest

from tests.support.server import (
    ChatClient,
    ServerProcess,
    create_postgres_database,
    drop_postgres_database,
    migrate,
    postgres_available,
)

# Short timers so tests await keepalives and presence quickly; a cheap password hash (read
# by the server) so signing up dozens of users does not dominate the run time.
TEST_SERVER_ENV: dict[str, str] = {
    "CHAT_KEEPALIVE_SECONDS": "1",
    "CHAT_PRESENCE_GRACE_SECONDS": "1",
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    # Every test signs up (and some fail to sign in) from 127.0.0.1, dozens of times per
    # module: per-address limits that suit production would refuse them. The throttling
    # tests set low limits on servers of their own.
    "CHAT_SIGNUP_RATE_LIMIT": "100000/minute",
    "CHAT_LOGIN_RATE_LIMIT": "100000/minute",
}


def require_postgres() -> None:
    if not postgres_available():
        message = "PostgreSQL is not reachable (see TEST_POSTGRES_URL)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated and seeded once per run; test databases are copies
    (CREATE DATABASE ... TEMPLATE), which is much faster than migrating each one."""
    require_postgres()
    url = create_postgres_database("chat_template")
    try:
        migrate({"DATABASE_URL": url, **TEST_SERVER_ENV})
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def pg_database(pg_template: str) -> Iterator[str]:
    """A fresh, migrated and seeded PostgreSQL database for the module."""
    url = create_postgres_database(template=pg_template)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def server_env(pg_database: str) -> dict[str, str]:
    return {"DATABASE_URL": pg_database, **TEST_SERVER_ENV}


@pytest.fixture(scope="module")
def migrated_database(pg_database: str) -> str:
    return pg_database  # copied from the migrated template


@pytest.fixture(scope="module")
def live_server(migrated_database: str, server_env: dict[str, str]) -> Iterator[ServerProcess]:
    server = ServerProcess(migrated_database, server_env)
    server.start()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def server_factory(migrated_database: str,
                   server_env: dict[str, str]) -> Iterator[Callable[..., ServerProcess]]:
    made: list[ServerProcess] = []

    def make(env: dict[str, str | None] | None = None, start: bool = True,
             **kw: Any) -> ServerProcess:
        server = ServerProcess(migrated_database, {**server_env, **(env or {})}, **kw)
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        stop_server(server)


@pytest.fixture
def client_factory(live_server: ServerProcess) -> Iterator[Callable[..., ChatClient]]:
    made: list[ChatClient] = []

    def make(name: str | None = None) -> ChatClient:
        client = ChatClient(live_server.api).register(name)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def stop_server(server: ServerProcess) -> None:
    """Graceful stop, falling back to SIGKILL so teardown never hangs."""
    if server.running:
        try:
            server.terminate(timeout=30)
        except TimeoutError:
            pass  # terminate() already killed it; the test outcome stands
    else:
        server.kill()  # reap any leftover workers
