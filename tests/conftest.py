"""Shared fixtures. API tests run against a real gunicorn + gevent server over real
sockets, once on SQLite and once on PostgreSQL (module-scoped: one database and one
server per module and backend)."""

import shutil

import pytest

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file migrated and seeded once per run; modules get copies."""
    from tests.support.fixtures import TEST_SERVER_ENV
    from tests.support.server import migrate

    path = tmp_path_factory.mktemp("template") / "chat.sqlite"
    migrate({"DATABASE_URL": f"sqlite:///{path}", **TEST_SERVER_ENV})
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request, tmp_path_factory):
    """A fresh, migrated and seeded database of each backend for the module."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "chat.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="module")
def server_env(database_url):
    from tests.support.fixtures import TEST_SERVER_ENV

    return {"DATABASE_URL": database_url, **TEST_SERVER_ENV}


@pytest.fixture(scope="module")
def migrated_database(database_url):
    return database_url  # every database_url is a copy of a migrated template


@pytest.fixture
def api(client_factory):
    """A factory of signed-in clients: `api()` registers a fresh user."""
    return client_factory


@pytest.fixture
def anon(live_server):
    from tests.support.server import ChatClient

    client = ChatClient(live_server.api)
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin(live_server, server_env):
    """A signed-in admin, made with the CLI as API.md says (one per module: the CLI is slow
    to start)."""
    from tests.support.server import ChatClient, flask_cli

    client = ChatClient(live_server.api).register()
    flask_cli("users", "make-admin", client.user["name"], env=server_env)
    yield client
    client.close()
