"""Presence announcements carry only the rooms that `announced_rooms` keeps (direct and
small rooms, chat/realtime/__init__.py), none when it keeps nothing, and none when the
room sizes cannot be read (the database is down): no event beats a flood of them."""

from __future__ import annotations

from chat.realtime.hub import Hub
from chat.realtime.presence import Presence


class _View:
    def rooms_at(self, place):
        return {"small", "large"}

    def follow(self, changes):
        pass


def _connect(announced_rooms):
    published = []
    hub = Hub(max_streams_per_user=10, buffer_size=100)
    Presence(hub, grace_seconds=60, publish=published.append,
             announced_rooms=announced_rooms)
    hub.rooms_loaded(hub.open("alice", "session"), _View(), 0)
    return published


def test_only_the_kept_rooms_are_announced():
    published = _connect(lambda rooms: {r for r in rooms if r == "small"})
    assert published == [{"type": "presence", "user": "alice", "status": "online",
                          "rooms": ["small"]}]


def test_nothing_is_announced_when_no_room_is_kept():
    assert _connect(lambda rooms: set()) == []


def test_nothing_is_announced_when_room_sizes_cannot_be_read():
    def database_down(rooms):
        raise ConnectionError("database down")

    assert _connect(database_down) == []
