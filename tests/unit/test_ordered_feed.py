"""The ordered feed and the hub: entries reach the hub once and in order whatever order
publishes arrive in (gaps filled from the log, lost publishes found by polling), and
membership changes decide the recipients of exactly the messages after them."""

from __future__ import annotations

import uuid

from chat.realtime.feed import OrderedFeed
from chat.realtime.hub import Hub
from chat.realtime.order import MembershipView, log_event, replay


def _msg(seq, room="r"):
    return {"kind": "message", "seq": seq, "id": f"m{seq}", "user": "author", "room": room,
            "message": f"text {seq}", "created_at": "2026-01-01T00:00:00.000000Z",
            "reply_to": None, "edited_at": None, "mentions": [], "reactions": []}


def _member(seq, user, action, room="r"):
    return {"kind": "membership", "seq": seq, "room": room, "user": user, "action": action}


class Log:
    """The committed log the feed reads on a gap."""

    def __init__(self):
        self.entries = {}
        self.reads = []

    def commit(self, *entries):
        for entry in entries:
            self.entries[entry["seq"]] = entry
        return log_event(list(entries), entries[0]["seq"], entries[-1]["seq"])

    def committed(self):
        return max(self.entries, default=0)

    def fetch(self, first, last):
        self.reads.append((first, last))
        return [self.entries[s] for s in range(first, last + 1) if s in self.entries]


def _feed(log):
    delivered = []
    feed = OrderedFeed(log.fetch, log.committed,
                       lambda event: delivered.extend(e["seq"] for e in event["entries"]))
    feed.start()
    return feed, delivered


def test_out_of_order_publishes_are_delivered_once_in_order():
    log = Log()
    feed, delivered = _feed(log)
    first, second, third = log.commit(_msg(1)), log.commit(_msg(2), _msg(3)), log.commit(_msg(4))
    feed.offer(third)  # arrives first: 1..3 are read from the log
    feed.offer(first)
    feed.offer(second)
    assert delivered == [1, 2, 3, 4]
    assert log.reads == [(1, 3)]


def test_a_lost_publish_is_found_by_polling():
    log = Log()
    feed, delivered = _feed(log)
    log.commit(_msg(1))  # its publish never arrives, and nothing follows it
    feed.poll()  # the first poll only notes where the feed stands
    assert delivered == []
    feed.poll()
    assert delivered == [1]


def test_holes_in_the_order_cost_no_read_when_the_event_covers_them():
    log = Log()
    feed, delivered = _feed(log)
    feed.offer(log_event([_msg(1), _msg(3)], 1, 3))  # place 2 was a skipped duplicate
    feed.offer(log.commit(_msg(4)))
    assert delivered == [1, 3, 4]
    assert log.reads == []


def _hub_with(*users):
    hub = Hub(max_streams_per_user=10, buffer_size=100)
    streams = {}
    for user in users:
        stream = hub.open(user, "session")
        hub.rooms_loaded(stream, _View(), 0)
        streams[user] = stream
    return hub, streams


class _View:
    def rooms_at(self, place):
        return set()

    def follow(self, changes):
        pass


def _received(stream):
    items = []
    while (item := stream.get_nowait()) is not None:
        items.append(item[0])
    return items


def test_membership_changes_fall_exactly_between_two_messages():
    hub, streams = _hub_with("alice", "bob")
    entries = [_member(1, "alice", "joined"), _member(2, "bob", "joined"), _msg(3),
               _member(4, "bob", "kicked"), _msg(5), _member(6, "bob", "joined"), _msg(7)]
    hub.handle({"type": "log", "entries": entries, "through": 7})
    assert _received(streams["alice"]) == [1, 2, 3, 4, 5, 6, 7]
    assert _received(streams["bob"]) == [2, 3, 4, 6, 7]  # never 5, stored after the kick
    assert hub.position == 7


def test_a_stream_opening_while_changes_apply_gets_its_rooms_at_the_hubs_place():
    hub = Hub(max_streams_per_user=10, buffer_size=100)
    stream = hub.open("carol", "session")
    # While carol's rooms are read (as of place 1), the hub applies her leave at place 2.
    hub.handle({"type": "log", "entries": [_member(2, "carol", "left")], "through": 2})

    class At1(_View):
        def rooms_at(self, place):
            assert place == 1
            return {"r"}

    rooms, position = hub.rooms_loaded(stream, At1(), 1)
    assert rooms == set() and position == 2
    hub.handle({"type": "log", "entries": [_msg(3)], "through": 3})
    assert 3 not in _received(stream)


def test_a_room_joined_while_a_stream_opens_is_replayed_up_to_the_hubs_place():
    room = str(uuid.uuid4())
    log = [_member(2, "carol", "joined", room), _msg(3, room)]
    hub = Hub(max_streams_per_user=10, buffer_size=100)
    stream = hub.open("carol", "session")
    view = MembershipView([], [], 1)  # carol's rooms as read at place 1: none
    # Before her rooms are set, the hub applies her join and a message in that room:
    # both are at or below the stream's place, so only the replay can bring them.
    hub.handle({"type": "log", "entries": log, "through": 3})
    rooms, position = hub.rooms_loaded(stream, view, 1)
    assert rooms == {room} and position == 3

    def read(session, first, last, rooms):
        return [e for e in log if first <= e["seq"] <= last and uuid.UUID(e["room"]) in rooms]

    replayed = replay(None, "carol", view, 1, position, read=read)
    assert [entry["seq"] for entry in replayed] == [2, 3]


def test_a_feed_that_could_not_start_starts_on_its_next_use():
    log = Log()
    down = [True]

    def committed():
        if down[0]:
            raise ConnectionError("database down at boot")
        return log.committed()

    delivered = []
    feed = OrderedFeed(log.fetch, committed,
                       lambda event: delivered.extend(e["seq"] for e in event["entries"]))
    try:
        feed.start()
    except ConnectionError:
        pass
    down[0] = False
    log.commit(_msg(1))
    feed.offer(log.commit(_msg(2)))  # starts at the present (2), then takes 2 itself
    assert feed.position == 2
    feed.offer(log.commit(_msg(3)))
    assert delivered == [3]


def _change(seq, kind, user="author", room="r", **extra):
    entry = {"kind": kind, "seq": seq, "room": room, "user": user, "message_id": "m1",
             "action": {"edit": "edited", "delete": "deleted", "reaction": "added"}[kind]}
    if kind == "edit":
        entry["message"] = _msg(1)
    if kind == "reaction":
        entry["emoji"] = "👍"
    return {**entry, **extra}


def test_message_changes_reach_exactly_the_members_at_their_place():
    hub, streams = _hub_with("alice", "bob")
    entries = [_member(1, "alice", "joined"), _member(2, "bob", "joined"), _msg(3),
               _change(4, "edit"), _member(5, "bob", "left"), _change(6, "reaction"),
               _member(7, "bob", "joined"), _change(8, "delete")]
    hub.handle({"type": "log", "entries": entries, "through": 8})
    assert _received(streams["alice"]) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert _received(streams["bob"]) == [2, 3, 4, 5, 7, 8]  # not the reaction while away


def test_typing_is_dropped_for_a_stream_that_is_behind_and_never_closes_it():
    hub = Hub(max_streams_per_user=10, buffer_size=10)
    streams = {}
    for user in ("typist", "reader"):
        streams[user] = hub.open(user, "session")
        hub.rooms_loaded(streams[user], _View(), 0)
    hub.handle({"type": "log", "through": 2,
                "entries": [_member(1, "typist", "joined"), _member(2, "reader", "joined")]})
    reader = streams["reader"]
    for _ in range(20):
        hub.handle({"type": "typing", "room": "r", "user": "typist"})
    assert not reader.closed
    assert _received(reader) == [2, None, None, None, None]  # typing only up to half full
    assert _received(streams["typist"]) == [1, 2]  # never one's own typing
