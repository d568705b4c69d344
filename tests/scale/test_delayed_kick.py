"""A kick races a burst across hosts while one host hears the broker late (API.md,
"Delivery guarantees": a user receives a room's message if and only if they are a member
at its place in the stored order).

Three hosts share PostgreSQL and Redis: A takes a burst of posts, B kicks a member and
lets another user join in the middle of it, C holds both users' streams, and C's Redis
connection goes through a proxy that delays everything Redis sends by 200–500 ms (varying
per chunk), so C hears publishes late and out of step with its own database reads. The
kicked user gets every message placed before the kick and none after; the joiner gets
every message placed after the join."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import urlsplit

import psycopg2

from tests.scale.conftest import SHARED_REDIS
from tests.support.burst import burst, messages_until
from tests.support.proxy import DelayProxy

POSTERS = 3
PER_POSTER = 40
KICK_AFTER, JOIN_AFTER = 40, 70  # 202s of the burst before each membership change


def _places(database_url: str, room: str) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Each message's place, and each (user, action)'s place, in the room."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id::text, seq FROM messages WHERE room_id = %s", (room,))
            messages = dict(cur.fetchall())
            cur.execute("SELECT user_id::text, action, seq FROM room_events"
                        " WHERE room_id = %s", (room,))
            changes = {(user, action): seq for user, action, seq in cur.fetchall()}
    finally:
        conn.close()
    return messages, changes


def test_a_kick_cuts_a_late_hearing_host_exactly_at_its_place(server_factory, client_on,
                                                             pg_database):
    env = {"CHAT_RATE_LIMIT": "10000/second", "WEB_CONCURRENCY": "1"}
    broker = urlsplit(SHARED_REDIS)
    with DelayProxy(broker.hostname, broker.port, 0.2, 0.5, seed=7) as slow_redis:
        a = server_factory({**env, "REDIS_URL": SHARED_REDIS})
        b = server_factory({**env, "REDIS_URL": SHARED_REDIS})
        c = server_factory({**env, "REDIS_URL": f"redis://127.0.0.1:{slow_redis.port}/0"})
        owner_a = client_on(a)
        room = owner_a.create_room()["id"]
        owner_b = client_on(b, like=owner_a)
        posters = [owner_a] + [client_on(a) for _ in range(POSTERS - 1)]
        for poster in posters[1:]:
            poster.join(room)
        kicked, joiner = client_on(c), client_on(c)
        kicked.join(room)
        kicked_stream, joiner_stream = kicked.subscribe(), joiner.subscribe()
        try:
            kicked_stream.wait_ready()
            joiner_stream.wait_ready()
            count, lock = [0], threading.Lock()
            reached = {KICK_AFTER: threading.Event(), JOIN_AFTER: threading.Event()}

            def after_each(_client, _i):
                with lock:
                    count[0] += 1
                    if count[0] in reached:
                        reached[count[0]].set()

            result = {}
            poster_thread = threading.Thread(
                target=lambda: result.update(log=burst(posters, room, PER_POSTER, after_each)))
            poster_thread.start()
            assert reached[KICK_AFTER].wait(20)
            kick = owner_b.delete(f"/rooms/{room}/users/{kicked.id}")
            assert kick.status_code == 204, kick.text
            assert reached[JOIN_AFTER].wait(20)
            join = client_on(b, like=joiner).post(f"/rooms/{room}/users",
                                                  json={"chat_user": joiner.id})
            assert join.status_code == 204, join.text
            poster_thread.join(60)
            assert not poster_thread.is_alive()
            # Both users are in general: a marker there, placed after everything, arrives
            # last on a host that applies the order in sequence.
            marker = owner_a.post_message(owner_a.general_room()["id"],
                                          f"marker {uuid.uuid4()}")["id"]
            kicked_got = kicked_stream.events_until(
                lambda e: e.event == "message" and e.json()["id"] == marker, 30)
            joiner_got = messages_until(joiner_stream, marker, room, timeout=30)
        finally:
            kicked_stream.close()
            joiner_stream.close()

    log = result["log"]
    assert log.statuses.keys() <= {202, 503}, log.statuses
    places, changes = _places(pg_database, room)
    assert sorted(places) == sorted(log.accepted)
    kick_place = changes[(kicked.id, "kicked")]
    join_place = changes[(joiner.id, "joined")]
    in_order = sorted(places, key=places.get)

    kicked_messages = [e.json()["id"] for e in kicked_got
                       if e.event == "message" and e.json()["room"] == room]
    late = [m for m in kicked_messages if places[m] > kick_place]
    assert not late, f"{len(late)} messages placed after the kick reached the kicked user"
    assert kicked_messages == [m for m in in_order if places[m] < kick_place]
    # The kick itself arrives after the last message placed before it.
    kinds = [(e.event, e.json().get("action")) for e in kicked_got
             if e.event in ("message", "membership") and e.json().get("room") == room]
    assert kinds[-1] == ("membership", "kicked"), kinds[-3:]

    assert joiner_got == [m for m in in_order if places[m] > join_place]
    before = sum(1 for m in in_order if places[m] < kick_place)
    print(f"\nkick at place {kick_place}: {before} of {len(in_order)} messages before it; "
          f"join at {join_place}: the joiner got {len(joiner_got)}; "
          f"{slow_redis.connections} delayed Redis connections")
