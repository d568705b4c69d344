"""Sessions and memberships remembered by one host (chat/realtime/access_memory.py) are forgotten
when a change made on another host arrives: by the time this host has applied the event
(its own stream shows it), the remembered answer is gone."""

from tests.scale.test_redis_fanout import ChatClientSameSession
from tests.support.checks import assert_error
from tests.support.server import expect

TIMEOUT = 10


def _warm(client, room_id):
    for _ in range(2):
        client.post_message(room_id, "warming up")
        expect(client.post(f"/rooms/{room_id}/typing"), 204)


ONE_WORKER = {"WEB_CONCURRENCY": "1"}  # "host a has applied it" names one memory


def _bus_down(client):
    """Waits until the client's host reports the broker unreachable."""
    import time

    deadline = time.monotonic() + TIMEOUT
    while client.get("/healthcheck").status_code != 503:
        assert time.monotonic() < deadline, "the broker outage went unnoticed"
        time.sleep(0.05)  # polling the only outward sign of the bus state


def test_a_sign_out_on_another_host_ends_the_remembered_session(fleet, client_on):
    a, b = fleet(2, **ONE_WORKER)
    user = client_on(a)
    room = user.create_room()
    _warm(user, room["id"])
    with user.subscribe() as stream:  # on host a, like the remembered session
        stream.wait_ready(TIMEOUT)
        expect(ChatClientSameSession(b, user).delete("/sessions/current"), 204)
        assert stream.wait_closed(TIMEOUT)  # host a has applied the sign-out
    assert_error(user.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 401, "unauthenticated")
    assert_error(user.post(f"/rooms/{room['id']}/typing"), 401, "unauthenticated")


def test_a_kick_on_another_host_ends_the_remembered_membership(fleet, client_on):
    a, b = fleet(2, **ONE_WORKER)
    owner = client_on(b)
    room = owner.create_room()
    member = client_on(a)
    member.join(room["id"])
    _warm(member, room["id"])
    with member.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        expect(owner.delete(f"/rooms/{room['id']}/users/{member.id}"), 204)
        stream.events_until(lambda e: e.event == "membership" and e.json() == {
            "room": room["id"], "user": member.id, "action": "kicked"}, TIMEOUT)
    assert_error(member.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 403, "not_member")
    assert_error(member.post(f"/rooms/{room['id']}/typing"), 403, "not_member")


def test_while_the_broker_is_down_nothing_is_answered_from_memory(
        fleet, client_on, private_redis):
    """A sign-out or a kick on host b cannot reach host a without the broker (a sign-out
    is not even in the log): host a asks the database again until its subscription is
    back, so both are refused at once."""
    a, b = fleet(2, redis_url=private_redis.url, **ONE_WORKER)
    owner = client_on(b)
    room = owner.create_room()
    member, signed_out = client_on(a), client_on(a)
    for client in (member, signed_out):
        client.join(room["id"])
        _warm(client, room["id"])
    private_redis.stop()
    _bus_down(member)
    expect(owner.delete(f"/rooms/{room['id']}/users/{member.id}"), 204)
    expect(ChatClientSameSession(b, signed_out).delete("/sessions/current"), 204)
    assert_error(member.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 403, "not_member")
    assert_error(signed_out.post(f"/rooms/{room['id']}/typing"), 401, "unauthenticated")


def test_a_sign_out_lost_with_the_broker_stays_refused_after_it_reconnects(
        fleet, client_on, private_redis):
    """When the subscription is back the memory starts empty: what it held before the
    outage may have been ended meanwhile."""
    a, b = fleet(2, redis_url=private_redis.url, **ONE_WORKER)
    user = client_on(a)
    room = user.create_room()
    _warm(user, room["id"])
    with user.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        private_redis.stop()
        expect(ChatClientSameSession(b, user).delete("/sessions/current"), 204)
        private_redis.start()
        assert stream.wait_closed(TIMEOUT)  # host a's bus reconnected
    assert_error(user.post(f"/rooms/{room['id']}/typing"), 401, "unauthenticated")
