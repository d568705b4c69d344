"""Broker outages: storage never depends on Redis, the healthcheck names the broken part,
and streams resume without loss once the broker is back."""

from tests.support.server import expect

TIMEOUT = 15


def _wait_for_health(server, client, status, timeout=TIMEOUT):
    """Polls the healthcheck until it answers `status` (the event is the bus state)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/healthcheck")
        if response.status_code == status:
            return response.json()
        assert time.monotonic() < deadline, f"healthcheck stayed {response.status_code}"
        time.sleep(0.1)


def test_posts_survive_a_broker_outage_and_streams_resume(fleet, client_on, private_redis):
    a, b = fleet(2, redis_url=private_redis.url)
    reader = client_on(a)
    writer = client_on(b)
    room = writer.create_room()
    reader.join(room["id"])
    stream = reader.subscribe()
    stream.wait_ready(TIMEOUT)
    before = writer.post_message(room["id"], "before the outage")
    first = stream.events_until(lambda e: e.event == "message", TIMEOUT)[-1]
    assert first.json()["id"] == before["id"]

    private_redis.stop()
    health = _wait_for_health(a, reader, 503)
    assert health["bus"] != "ok" and health["database"] == "ok"
    during = [writer.post_message(room["id"], f"during the outage {i}") for i in range(5)]

    private_redis.start()
    _wait_for_health(a, reader, 200)
    # The reconnected bus cannot know what it missed: it closes streams so clients resume.
    assert stream.wait_closed(TIMEOUT)
    stream.close()
    after = writer.post_message(room["id"], "after the outage")
    with reader.subscribe(last_event_id=first.id) as resumed:
        resumed.wait_ready(TIMEOUT)
        events = resumed.events_until(
            lambda e: e.event == "message" and e.json()["id"] == after["id"], TIMEOUT)
    received = [e.json()["id"] for e in events if e.event == "message"]
    assert received == [m["id"] for m in during] + [after["id"]]
    history = [m["id"] for m in expect(reader.get(f"/rooms/{room['id']}/messages"), 200).json()]
    assert history == [before["id"]] + received
