"""API.md 1.1: only rooms of at most CHAT_PRESENCE_ROOM_LIMIT members, and direct rooms,
carry `presence` events; in larger rooms `online` in the member list still tells."""

from __future__ import annotations

import uuid

import pytest

from tests.support.checks import WAIT
from tests.support.server import ChatClient


@pytest.fixture(scope="module")
def server_env(server_env):
    return {**server_env, "CHAT_PRESENCE_ROOM_LIMIT": "3"}


def _presence_until_marker(sse, poster, room_id):
    marker = poster.post_message(room_id, f"marker {uuid.uuid4()}")
    events = sse.events_until(
        lambda e: e.event == "message" and e.json()["id"] == marker["id"], timeout=WAIT)
    return [e.json() for e in events if e.event == "presence"]


def test_presence_stays_inside_small_rooms_and_direct_rooms(live_server):
    watcher, small_friend, large_friend, dm_friend = (
        ChatClient(live_server.api).register() for _ in range(4))
    small = watcher.create_room()  # 2 members: within the limit of 3
    small_friend.join(small["id"])
    large = watcher.create_room()  # 4 members: above it
    large_friend.join(large["id"])
    for _ in range(2):
        ChatClient(live_server.api).register().join(large["id"])
    assert dm_friend.put(f"/users/{watcher.id}/direct").status_code == 201
    # general has every user of the module: far above the limit.
    with watcher.subscribe() as sse:
        sse.wait_ready(WAIT)
        for friend in (small_friend, large_friend, dm_friend):
            with friend.subscribe() as theirs:
                theirs.wait_ready(WAIT)
                seen = _presence_until_marker(sse, watcher, small["id"])
                online = {u["id"]: u["online"] for u in
                          watcher.get(f"/rooms/{large['id']}/users").json()}
            if friend is large_friend:
                assert seen == [], seen
                assert online[large_friend.id] is True  # the member list still tells
            else:
                assert {"user": friend.id, "status": "online"} in seen, seen
