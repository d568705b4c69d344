"""API.md: REDIS_URL is the broker for fan-out across workers and hosts. Delivery
guarantees hold on every server instance: scope, order, join/leave at once, logout,
presence, and the shared rate limit."""

import threading
import uuid

import requests

from tests.support.server import expect

TIMEOUT = 10


def _chat_events(stream, count):
    events = []
    while len(events) < count:
        event = stream.next_event(TIMEOUT)
        if event.event == "message":
            events.append(event.json())
    return events


def test_message_posted_on_one_host_reaches_streams_on_every_host(pair, client_on):
    a, b = pair
    reader_a = client_on(a)
    writer_b = client_on(b)
    room = writer_b.create_room()
    reader_a.join(room["id"])
    with reader_a.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        sent = writer_b.post_message(room["id"], "across hosts")
        received = _chat_events(stream, 1)[0]
    assert received == sent


def test_concurrent_posts_on_two_hosts_arrive_in_stored_order_everywhere(pair, client_on):
    """Stored order is one total order per fleet; every stream on every host sees it."""
    a, b = pair
    writers = [client_on(a), client_on(b), client_on(a), client_on(b)]
    room = writers[0].create_room()
    for writer in writers[1:]:
        writer.join(room["id"])
    readers = [client_on(a), client_on(b)]
    for reader in readers:
        reader.join(room["id"])
    per_writer = 30
    streams = [reader.subscribe() for reader in readers]
    try:
        for stream in streams:
            stream.wait_ready(TIMEOUT)
        accepted, lock = [], threading.Lock()

        def post_all(writer):
            for i in range(per_writer):
                message = writer.post_message(room["id"], f"{writer.id[:4]} {i}")
                with lock:
                    accepted.append(message["id"])

        threads = [threading.Thread(target=post_all, args=(w,)) for w in writers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = per_writer * len(writers)
        received = [[m["id"] for m in _chat_events(stream, total)] for stream in streams]
    finally:
        for stream in streams:
            stream.close()
    history = [m["id"] for m in readers[0].history(room["id"], limit=200)]
    assert sorted(history) == sorted(accepted)
    assert received[0] == history
    assert received[1] == history
    # Both hosts numbered the room's messages while the other stored into it too: the
    # unread counts (newest ordinal less the marker's) are still exact.
    def unread(reader):
        listed = reader.get(f"/users/{reader.id}/rooms").json()
        return {r["id"]: r["unread_count"] for r in listed}[room["id"]]

    for reader in readers:
        assert unread(reader) == total
        assert reader.put(f"/rooms/{room['id']}/read",
                          json={"message": history[total // 3]}).status_code == 204
        assert unread(reader) == total - total // 3 - 1


def test_leave_on_one_host_stops_delivery_on_another_at_once(pair, client_on):
    a, b = pair
    owner = client_on(a)
    room = owner.create_room()
    member_on_a = client_on(a)
    member_on_a.join(room["id"])
    same_user_on_b = client_on(b, like=member_on_a)
    with member_on_a.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        expect(same_user_on_b.delete(f"/rooms/{room['id']}/users/{member_on_a.id}"), 204)
        left = stream.events_until(lambda e: e.event == "membership", TIMEOUT)[-1]
        assert left.json() == {"room": room["id"], "user": member_on_a.id, "action": "left"}
        owner.post_message(room["id"], "after the leave")
        marker_room = member_on_a.create_room()
        marker = member_on_a.post_message(marker_room["id"], "marker")
        events = stream.events_until(
            lambda e: e.event == "message" and e.json()["id"] == marker["id"], TIMEOUT)
    rooms_seen = {e.json()["room"] for e in events if e.event == "message"}
    assert room["id"] not in rooms_seen


def test_logout_on_one_host_closes_the_stream_of_that_session_on_another(pair, client_on):
    a, b = pair
    user_a = client_on(a)
    on_b = ChatClientSameSession(b, user_a)
    with user_a.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        expect(on_b.delete("/sessions/current"), 204)
        assert stream.wait_closed(TIMEOUT)


def ChatClientSameSession(server, client):
    from tests.support.server import ChatClient

    other = ChatClient(server.api)
    other.session.headers["Authorization"] = f"Bearer {client.token}"
    return other


def _presence_of(event, client):
    return event.event == "presence" and event.json()["user"] == client.id


def test_presence_is_fleet_wide(pair, client_on):
    a, b = pair
    watcher = client_on(b)
    room = watcher.create_room()
    walker = client_on(a)
    walker.join(room["id"])
    with watcher.subscribe() as watch:
        watch.wait_ready(TIMEOUT)
        with walker.subscribe() as stream:
            stream.wait_ready(TIMEOUT)
            # Everyone shares `general`, so other users' presence may come first.
            online = watch.events_until(lambda e: _presence_of(e, walker), TIMEOUT)[-1]
            assert online.json() == {"user": walker.id, "status": "online"}
            members = expect(watcher.get(f"/rooms/{room['id']}/users"), 200).json()
            assert {m["id"]: m["online"] for m in members}[walker.id] is True
        offline = watch.events_until(lambda e: _presence_of(e, walker), TIMEOUT)[-1]
        assert offline.json() == {"user": walker.id, "status": "offline"}
    members = expect(watcher.get(f"/rooms/{room['id']}/users"), 200).json()
    assert {m["id"]: m["online"] for m in members}[walker.id] is False


def test_rate_limits_are_shared_by_the_fleet(fleet, client_on):
    """Posts per user and failed sign-ins per name count across every host."""
    a, b = fleet(2, CHAT_RATE_LIMIT="4/minute", CHAT_LOGIN_RATE_LIMIT="3/minute")
    poster_a = client_on(a)
    poster_b = client_on(b, like=poster_a)
    room = poster_a.create_room()
    for client in (poster_a, poster_b, poster_a, poster_b):
        client.post_message(room["id"], "counted")
    refused = poster_b.post(f"/rooms/{room['id']}/messages", json={"message": "one too many"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1

    name = poster_a.user["name"]
    for host, n in ((a, 1), (b, 2), (a, 3)):  # each from another address: only the name
        failed = requests.post(host.api + "/sessions", timeout=10,
                               json={"name": name, "password": "wrong-password"},
                               headers={"X-Forwarded-For": f"10.9.0.{n}"})
        assert failed.status_code == 401, failed.text
    throttled = requests.post(b.api + "/sessions", json={"name": name, "password": "password123"},
                              headers={"X-Forwarded-For": "10.9.0.4"}, timeout=10)
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["Retry-After"]) >= 1


def test_same_client_id_on_two_hosts_is_stored_once(pair, client_on):
    a, b = pair
    poster_a = client_on(a)
    poster_b = client_on(b, like=poster_a)
    room = poster_a.create_room()
    message_id = str(uuid.uuid4())
    with poster_a.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        first = poster_a.post_message(room["id"], "once", id=message_id)
        second = poster_b.post_message(room["id"], "once", id=message_id)
        marker = poster_a.post_message(room["id"], "marker")
        events = stream.events_until(
            lambda e: e.event == "message" and e.json()["id"] == marker["id"], TIMEOUT)
    assert first["id"] == second["id"] == message_id
    ids = [e.json()["id"] for e in events if e.event == "message"]
    assert ids.count(message_id) == 1
    assert [m["id"] for m in poster_a.history(room["id"])].count(message_id) == 1
