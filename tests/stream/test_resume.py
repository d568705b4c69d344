"""Resume by `Last-Event-ID` (API.md, "Delivery guarantees", **Resume**): every message of
the user's current rooms stored after that id, in order, then live ones - no gap, no
duplicate, even for posts racing the reconnect; `reset` when the id is unknown or more
than CHAT_REPLAY_LIMIT messages are missing."""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid

import pytest

from tests.support.fixtures import TEST_SERVER_ENV
from tests.support.server import ChatClient, ServerProcess

# Fixed so a failure can be replayed; STREAM_RESUME_SEED=<n> tries another sequence.
SEED = int(os.environ.get("STREAM_RESUME_SEED", "20250504"))
ROUNDS = 15


@pytest.fixture(scope="module")
def server_env(database_url):
    """This module's live_server: posts are not rate limited, and since a server notices
    a closed connection only at its next write, quick reconnects may briefly hold more
    than 10 streams of the reader."""
    return {"DATABASE_URL": database_url, **TEST_SERVER_ENV,
            "CHAT_RATE_LIMIT": "10000/second", "CHAT_MAX_STREAMS_PER_USER": "100"}


@pytest.fixture(scope="module")
def limited_server(migrated_database, server_env):
    """A second server on the same database with CHAT_REPLAY_LIMIT=5."""
    server = ServerProcess(migrated_database, {**server_env, "CHAT_REPLAY_LIMIT": "5"})
    server.start()
    try:
        yield server
    finally:
        try:
            server.terminate(30)
        except TimeoutError:
            pass  # terminate() killed it


def test_randomized_resume_is_exactly_once(live_server, stream):
    """Randomized disconnects/reconnects (some racing concurrent posts): the messages
    received across all connections are exactly the reader's rooms' history, in each
    room's stored order, no gap, no duplicate, nothing from a room the reader is not in."""
    note = f"[seed {SEED}: rerun with STREAM_RESUME_SEED={SEED}]"
    rng = random.Random(SEED)
    server = live_server
    reader = ChatClient(server.api).register()
    main_writer = ChatClient(server.api).register()
    racer = ChatClient(server.api).register()  # posts from another thread
    clients = [reader, main_writer, racer]
    try:
        rooms = [main_writer.create_room()["id"] for _ in range(3)]
        outside = main_writer.create_room()["id"]
        for room in rooms:
            reader.join(room)
            racer.join(room)
        racer.join(outside)
        mine = set(rooms)
        accepted: list[dict] = []  # every 202 answer, any thread
        lock = threading.Lock()
        rng_post = random.Random(SEED + 1)  # room choices (never two posting threads at once)

        def post(writer, count, tag):
            for i in range(count):
                room = outside if rng_post.random() < 0.25 else rng_post.choice(rooms)
                message = writer.post_message(room, f"{tag} #{i}")
                with lock:
                    accepted.append(message)

        received: list[dict] = []
        reconnects: list[float] = []  # subscribe() call to `ready`, seconds

        def pending():
            with lock:
                expected = sum(1 for m in accepted if m["room"] in mine)
            return expected - len(received)

        sse = reader.subscribe()
        sse.wait_ready()
        accepted.append(main_writer.post_message(rooms[0], "first"))
        received.append(stream.next_message(sse).json())
        for round_no in range(ROUNDS):
            post(main_writer, rng.randint(0, 8), f"r{round_no} live")
            for _ in range(rng.randint(0, pending())):  # read some, leave the rest in flight
                received.append(stream.next_message(sse).json())
            sse.close()  # disconnect at this point
            post(main_writer, rng.randint(0, 6), f"r{round_no} away")
            racing = None
            if rng.random() < 0.4:  # posts racing the reconnect, from another thread
                count = rng.randint(1, 8)
                racing = threading.Thread(target=post, args=(racer, count, f"r{round_no} race"))
                racing.start()
            start = time.monotonic()
            sse = reader.subscribe(last_event_id=received[-1]["id"])
            assert sse.response.status_code == 200, (sse.response.text, note)
            sse.wait_ready()
            reconnects.append(time.monotonic() - start)
            if racing is not None:
                racing.join(30)
        # Everything accepted for the reader's rooms must now arrive, and nothing more.
        for _ in range(pending()):
            received.append(stream.next_message(sse, timeout=10).json())
        extra = [e for e in sse.collect(0.5) if e.event == "message"]
        sse.close()
        assert not extra, (extra, note)

        ids = [m["id"] for m in received]
        assert len(ids) == len(set(ids)), (f"duplicates: {len(ids) - len(set(ids))}", note)
        assert all(m["room"] in mine for m in received), note
        for room in rooms:
            history = reader.history(room, limit=200)
            assert len(history) < 200, note
            got = [m for m in received if m["room"] == room]
            assert got == history, (f"room {room}: stream order/gap differs from history", note)
        stored = {m["id"] for room in rooms + [outside]
                  for m in main_writer.history(room, limit=200)}
        assert {m["id"] for m in accepted} == stored, ("accepted but not stored", note)
        assert {m["id"] for m in accepted if m["room"] in mine} == set(ids), note
        print(f"\n{note} {len(received)} messages over {ROUNDS + 1} connections; "
              f"reconnect to ready: median {statistics.median(reconnects) * 1000:.1f} ms, "
              f"max {max(reconnects) * 1000:.1f} ms")
    except BaseException as exc:  # a timeout (a gap) too: always name the seed
        exc.add_note(note)
        raise
    finally:
        for client in clients:
            client.close()


def test_resume_replays_missed_messages_in_order(api, stream):
    """Reconnecting with the last message id first replays every later message of the
    user's rooms (none of other rooms) in order, right after `ready`, then live ones."""
    alice, bob = api(), api()
    rooms = [bob.create_room()["id"] for _ in range(2)]
    outside = bob.create_room()["id"]
    for room in rooms:
        alice.join(room)
    with alice.subscribe() as sse:
        sse.wait_ready()
        last = bob.post_message(rooms[0], "seen")
        assert stream.next_message(sse).json() == last
    missed = []
    for i in range(6):
        missed.append(bob.post_message(rooms[i % 2], f"missed {i}"))
        bob.post_message(outside, f"not alice's {i}")
    with alice.subscribe(last_event_id=last["id"]) as sse:
        sse.wait_ready()
        replayed = [sse.next_event(5) for _ in missed]
        assert [e.json() for e in replayed] == missed
        assert all(e.event == "message" and e.has_id_field for e in replayed)
        live = bob.post_message(rooms[1], "live")
        assert stream.next_message(sse).json() == live


def test_resume_with_nothing_missed_replays_nothing(api, stream):
    """Resuming at the newest message replays nothing; live messages follow."""
    alice = api()
    room = alice.create_room()["id"]
    with alice.subscribe() as sse:
        sse.wait_ready()
        last = alice.post_message(room, "newest")
        assert stream.next_message(sse).json() == last
    with alice.subscribe(last_event_id=last["id"]) as sse:
        sse.wait_ready()
        live = alice.post_message(room, "live")
        assert stream.next_message(sse).json() == live


@pytest.mark.parametrize("last_event_id", [str(uuid.uuid4()), "not-a-message-id"])
def test_unknown_last_event_id_gets_reset(api, stream, last_event_id):
    """An unknown `Last-Event-ID` gets `event: reset` {reason} right after `ready`, then
    live messages as usual."""
    alice = api()
    room = alice.create_room()["id"]
    with alice.subscribe(last_event_id=last_event_id) as sse:
        sse.wait_ready()
        reset = sse.next_event(5)
        assert reset.event == "reset" and not reset.has_id_field, reset
        assert isinstance(reset.json()["reason"], str) and reset.json()["reason"]
        live = alice.post_message(room, "after reset")
        assert stream.next_message(sse).json() == live


def _missed_after_disconnect(server, count, stream):
    """alice saw one message, then `count` more were stored while she was away."""
    alice = ChatClient(server.api).register()
    bob = ChatClient(server.api).register()
    room = bob.create_room()["id"]
    alice.join(room)
    with alice.subscribe() as sse:
        sse.wait_ready()
        last = bob.post_message(room, "seen")
        assert stream.next_message(sse).json() == last
    missed = [bob.post_message(room, f"missed {i}") for i in range(count)]
    # 202 means accepted, not yet stored: wait until all are, or one stored after the
    # reconnect would rightly arrive as a live message.
    deadline = time.monotonic() + 5
    while bob.history(room, limit=count)[-1]["id"] != missed[-1]["id"]:
        assert time.monotonic() < deadline, "the missed messages were never stored"
        time.sleep(0.02)
    return alice, bob, room, last, missed


def test_more_than_replay_limit_missing_gets_reset(limited_server, stream):
    """More than CHAT_REPLAY_LIMIT (5 here) missing: `reset` right after `ready`, no replay."""
    server = limited_server
    alice, bob, room, last, missed = _missed_after_disconnect(server, 6, stream)
    with alice.subscribe(last_event_id=last["id"]) as sse:
        sse.wait_ready()
        reset = sse.next_event(5)
        assert reset.event == "reset" and not reset.has_id_field, reset
        live = bob.post_message(room, "live")
        assert stream.next_message(sse).json() == live  # none of the missed ones
    alice.close()
    bob.close()


def test_exactly_replay_limit_missing_is_replayed(limited_server, stream):
    """Exactly CHAT_REPLAY_LIMIT (5) missing: all replayed in order, no `reset`."""
    server = limited_server
    alice, bob, room, last, missed = _missed_after_disconnect(server, 5, stream)
    with alice.subscribe(last_event_id=last["id"]) as sse:
        sse.wait_ready()
        replayed = [sse.next_event(5) for _ in missed]
        assert [e.json() for e in replayed] == missed, replayed
        live = bob.post_message(room, "live")
        assert sse.next_event(5).json() == live  # nothing (no reset) in between
    alice.close()
    bob.close()
