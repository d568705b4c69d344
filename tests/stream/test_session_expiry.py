"""API.md 1.1: an open stream ends when its session expires, like on sign-out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chat.auth import token_hash
from tests.api.core_support import sql
from tests.support.checks import WAIT, assert_error
from tests.support.server import ChatClient


def test_a_stream_ends_when_its_session_expires(live_server, database_url):
    user = ChatClient(live_server.api).register()
    other = ChatClient(live_server.api).register()
    expires = datetime.now(timezone.utc) + timedelta(seconds=2)
    sql(database_url, "UPDATE sessions SET expires_at = :at WHERE token_hash = :hash",
        at=expires, hash=token_hash(user.token))
    with user.subscribe() as sse, other.subscribe() as unaffected:
        sse.wait_ready(WAIT)
        unaffected.wait_ready(WAIT)
        assert sse.wait_closed(WAIT), "the stream outlived its session"
        assert datetime.now(timezone.utc) >= expires
        assert not unaffected.ended  # another user's session is not touched
    assert_error(user.get("/users/me"), 401, "unauthenticated")
    response = user.get(f"/users/{user.id}/subscribe")
    assert_error(response, 401, "unauthenticated")
