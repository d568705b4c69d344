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


def test_a_sign_out_on_another_host_ends_the_remembered_session(pair, client_on):
    a, b = pair
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


def test_a_kick_on_another_host_ends_the_remembered_membership(pair, client_on):
    a, b = pair
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


def test_during_a_broker_outage_a_kick_reaches_the_memory_through_the_database(
        fleet, client_on, private_redis):
    """The kick's publish is lost with the broker down; host a's ordered feed reads the
    entry from the database, and that read forgets the remembered membership too."""
    a, b = fleet(2, redis_url=private_redis.url)
    owner = client_on(b)
    room = owner.create_room()
    member = client_on(a)
    member.join(room["id"])
    _warm(member, room["id"])
    with member.subscribe() as stream:
        stream.wait_ready(TIMEOUT)
        private_redis.stop()
        expect(owner.delete(f"/rooms/{room['id']}/users/{member.id}"), 204)
        stream.events_until(lambda e: e.event == "membership" and e.json() == {
            "room": room["id"], "user": member.id, "action": "kicked"}, TIMEOUT)
    assert_error(member.post(f"/rooms/{room['id']}/messages", json={"message": "x"}),
                 403, "not_member")


def test_a_sign_out_lost_with_the_broker_is_forgotten_when_it_reconnects(
        fleet, client_on, private_redis):
    """A sign-out is not in the log: while the broker is down host a cannot hear of it.
    When the bus reconnects (and closes its streams, which may have missed events), host
    a forgets every remembered session."""
    a, b = fleet(2, redis_url=private_redis.url)
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
