"""Graceful restart (API.md: "A stream ... the client reconnects and resumes - nothing is
lost"; gunicorn.conf.py: SIGTERM ends the streams at once, stops intake and stores every
accepted message before exiting). Every message answered 202 reaches each reader exactly
once across the connections before and after the restart, and is in history."""

from __future__ import annotations

import threading
import time
import uuid

import requests

from tests.support.server import ChatClient
from tests.support.sse import StreamClosed

PER_WRITER = 70  # three writers: ~200 posts


def drain(sse) -> list[dict]:
    """Every chat message an ended stream delivered, in order."""
    out = []
    while True:
        try:
            event = sse.next_event(0.1)
        except (StreamClosed, TimeoutError):
            return out
        if event.event == "message":
            out.append(event.json())


def test_graceful_restart_loses_nothing(server_factory, stream):
    """~200 posts from 3 threads, SIGTERM midway: the server closes the streams itself
    (promptly) and exits 0; writers retry refused posts with the same id until the
    restarted server accepts them; the readers resume with Last-Event-ID and receive every
    accepted message exactly once, in stored order, all in history."""
    server = server_factory({"CHAT_RATE_LIMIT": "10000/second"})
    writers = [ChatClient(server.api).register() for _ in range(3)]
    alice, carol = ChatClient(server.api).register(), ChatClient(server.api).register()
    clients = writers + [alice, carol]
    try:
        rooms = [writers[0].create_room()["id"] for _ in range(2)]
        for room in rooms:
            for writer in writers[1:]:
                writer.join(room)
            alice.join(room)
        carol.join(rooms[1])
        readers = {alice.id: (alice, set(rooms)), carol.id: (carol, {rooms[1]})}

        accepted: list[dict] = []  # 202 answers
        refused = [0]  # 503 answers (intake stopped) and failed connections, retried
        lock = threading.Lock()
        halfway = threading.Event()

        def write(writer, index):
            """Posts PER_WRITER messages; like a careful client, retries a failed post
            with the same id (idempotent) until it is accepted, across the restart."""
            for i in range(PER_WRITER):
                body = {"message": f"w{index} #{i}", "id": str(uuid.uuid4())}
                deadline = time.monotonic() + 60
                while True:
                    try:
                        response = writer.post(f"/rooms/{rooms[i % 2]}/messages", json=body)
                    except requests.RequestException:
                        response = None
                    if response is not None and response.status_code == 202:
                        break
                    assert response is None or response.status_code == 503, response.text
                    assert time.monotonic() < deadline, "the server never came back"
                    with lock:
                        refused[0] += 1
                    time.sleep(0.05)  # the client's back-off before retrying
                with lock:
                    accepted.append(response.json())
                    if len(accepted) >= PER_WRITER * len(writers) // 2:
                        halfway.set()

        first = {user: client.subscribe() for user, (client, _) in readers.items()}
        for sse in first.values():
            sse.wait_ready()
        threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
        for thread in threads:
            thread.start()
        assert halfway.wait(30)
        exit_code: list[int] = []
        terminator = threading.Thread(target=lambda: exit_code.append(server.terminate(30)))
        sigterm_at = time.monotonic()
        terminator.start()
        for sse in first.values():
            assert sse.wait_closed(5), "SIGTERM left a stream open"
            assert sse.closed_by_server
        streams_closed_in = time.monotonic() - sigterm_at
        terminator.join(40)
        stopped_in = time.monotonic() - sigterm_at
        posted_before_stop = len(accepted)
        assert exit_code == [0], server.log_text()[-3000:]
        server.start()
        for thread in threads:
            thread.join(60)
        assert len(accepted) == PER_WRITER * len(writers)
        ids = [m["id"] for m in accepted]
        assert len(set(ids)) == len(ids)
        for user, (client, mine) in readers.items():
            received = drain(first[user])
            first[user].close()
            start = time.monotonic()
            expected = {m["id"] for m in accepted if m["room"] in mine}
            last = received[-1]["id"] if received else None
            assert last is not None, "nothing arrived before the restart"
            with client.subscribe(last_event_id=last) as sse:
                sse.wait_ready()
                resumed_ready = time.monotonic() - start
                while not expected <= {m["id"] for m in received}:
                    received.append(stream.next_message(sse, timeout=10).json())
                received += [e.json() for e in sse.collect(0.5) if e.event == "message"]
            ids = [m["id"] for m in received]
            assert len(ids) == len(set(ids)), "a message arrived twice"
            assert set(ids) == expected, "a message arrived that was never accepted"
            for room in mine:
                history = client.history(room, limit=200)
                assert [m for m in received if m["room"] == room] == history
            print(f"\n{posted_before_stop} accepted before the stop, {refused[0]} posts "
                  f"retried; reader got {len(ids)} "
                  f"messages; SIGTERM closed streams in {streams_closed_in:.2f} s, server "
                  f"stopped in {stopped_in:.2f} s; resume ready in "
                  f"{resumed_ready * 1000:.0f} ms")
        stored = {m["id"] for room in rooms for m in alice.history(room, limit=200)}
        assert {m["id"] for m in accepted} <= stored, "an accepted message was not stored"
    finally:
        for client in clients:
            client.close()
