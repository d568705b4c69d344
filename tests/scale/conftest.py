"""Scale-out tests: several server processes (standing in for hosts) share one PostgreSQL
database and one Redis broker. PostgreSQL only: the broker is for production fleets."""

import os
import shutil
import subprocess
import time

import pytest
import redis

from tests.support.fixtures import stop_server
from tests.support.server import ChatClient, ServerProcess, free_port


@pytest.fixture(scope="module")
def database_url(request):
    return request.getfixturevalue("pg_database")


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, so it can be stopped and started again."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]

    class PrivateRedis:
        url = f"redis://127.0.0.1:{port}/0"
        proc = None

        def start(self):
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            client = redis.Redis(port=port, socket_connect_timeout=1)
            for _ in range(200):
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.proc.poll() is not None:
                        raise RuntimeError("redis-server exited")
                    time.sleep(0.02)  # polling a starting service: there is no event
            raise TimeoutError("redis-server did not start")

        def stop(self):
            self.proc.kill()
            self.proc.wait(10)

    server = PrivateRedis().start()
    yield server
    if server.proc.poll() is None:
        server.stop()


SHARED_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session", autouse=True)
def shared_redis():
    """The broker at 127.0.0.1:6379: skipped without it, except under CI=true."""
    try:
        redis.Redis.from_url(SHARED_REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        message = f"Redis is not reachable at {SHARED_REDIS}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def fleet(server_factory):
    """`fleet(n, redis_url, **env)` → n started servers sharing the database and broker."""

    def make(count, redis_url=SHARED_REDIS, **env):
        return [server_factory({"REDIS_URL": redis_url, **env}) for _ in range(count)]

    return make


@pytest.fixture(scope="module")
def pair(migrated_database, server_env):
    """Two hosts with default settings, shared by the tests of a module (starting servers
    is the slow part of these tests)."""
    env = {**server_env, "REDIS_URL": SHARED_REDIS, "CHAT_RATE_LIMIT": "1000/second"}
    servers = [ServerProcess(migrated_database, env)
               for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            stop_server(server)


@pytest.fixture
def client_on():
    made = []

    def make(server, like=None):
        """A client of `server`: a new user, or the same user as `like` (a new session)."""
        client = ChatClient(server.api)
        if like is None:
            client.register()
        else:
            client.login(like.user["name"])
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
