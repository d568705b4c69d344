"""Shared fixtures. API tests run against a real gunicorn + gevent server over real
sockets, once on SQLite and once on PostgreSQL (module-scoped: one database and one
server per module and backend)."""

import pytest

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "chat.sqlite")
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="module")
def server_env(database_url):
    from tests.support.fixtures import TEST_SERVER_ENV

    return {"DATABASE_URL": database_url, **TEST_SERVER_ENV}


@pytest.fixture(scope="module")
def migrated_database(database_url, server_env):
    from tests.support.server import migrate

    migrate(server_env)
    return database_url


@pytest.fixture
def api(live_server):
    """A factory of signed-in clients: `api()` registers a fresh user."""
    from tests.support.server import ChatClient

    made = []

    def make(name=None):
        client = ChatClient(live_server.api).register(name)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def anon(live_server):
    from tests.support.server import ChatClient

    client = ChatClient(live_server.api)
    yield client
    client.close()
