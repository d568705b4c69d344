"""The page on the other two setups people run: the laptop default (SQLite, one worker,
no broker) and a fleet (PostgreSQL with Redis, two hosts — each person on a different
one). Two people chat live, a reload resumes the stream, and a new public room appears
for the other person without a reload."""

from __future__ import annotations

import uuid

import pytest
import redis
from playwright.sync_api import expect

from tests.browser.chatpage import expect_confirmed
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module", params=["sqlite", "postgres+redis"])
def setup(request, tmp_path_factory, server_env):
    """(url of alice's host, url of bob's host) for the setup."""
    if request.param == "sqlite":
        import shutil

        path = tmp_path_factory.mktemp("db") / "chat.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        env = {**server_env, "DATABASE_URL": f"sqlite:///{path}"}
        servers = [ServerProcess(env["DATABASE_URL"], env)]
    else:
        try:
            redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
        except redis.RedisError:
            pytest.skip("Redis is not reachable") if not _ci() else pytest.fail("no Redis")
        url = request.getfixturevalue("pg_database")
        env = {**server_env, "DATABASE_URL": url, "REDIS_URL": REDIS}
        servers = [ServerProcess(url, env) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers[0].url, servers[-1].url
    finally:
        for server in servers:
            server.terminate()


def _ci():
    import os

    return os.environ.get("CI", "").lower() == "true"


def test_two_people_chat_resume_and_see_new_rooms(setup, open_page):
    alice_url, bob_url = setup
    tag = uuid.uuid4().hex[:6]
    alice = open_page(alice_url, "alice").sign_up(f"alice{tag}")
    bob = open_page(bob_url, "bob").sign_up(f"bob{tag}")
    for chat in (alice, bob):
        chat.open_room("general")

    hello = alice.post(f"hello from alice {tag}")
    expect_confirmed(hello, f"hello from alice {tag}")
    expect_confirmed(bob.message(hello.get_attribute("data-message-id")),
                     f"hello from alice {tag}")

    # Bob reloads while Alice keeps talking: his page resumes with each message once.
    bob.page.reload()
    texts = [f"during the reload {i} {tag}" for i in range(3)]
    ids = []
    for text in texts:
        sent = alice.post(text)
        expect_confirmed(sent, text)
        ids.append(sent.get_attribute("data-message-id"))
    expect(bob.state).to_have_text("live")
    for message_id, text in zip(ids, texts):
        expect_confirmed(bob.message(message_id), text)
        expect(bob.message(message_id)).to_have_count(1)

    # A public room Alice creates appears in Bob's list at once (the `room` event).
    room = f"fresh {tag}"
    response = alice.page.evaluate("""name => fetch('/v1/chats/rooms', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name})})
        .then(r => r.status)""", room)
    assert response == 201
    # Bob is not in it: it is listed to join.
    expect(bob.page.locator(f'[data-testid=join-room][data-room-name="{room}"]')).to_be_visible()
