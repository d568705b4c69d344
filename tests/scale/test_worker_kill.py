"""SIGKILL of one gunicorn worker (not the whole instance: tests/stream/test_durable_accept.py
kills that): a server with two workers (a broker, WEB_CONCURRENCY=2) takes a concurrent
burst on both; the moment the last post answered by one worker has its 202, that worker is
SIGKILLed while the other keeps taking posts. Every 202'd message is stored, the master
starts a replacement worker, a stream on the surviving worker gets every message exactly
once in stored order, and a stream that was on the killed worker resumes by Last-Event-ID
with the rest, exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.support.burst import full_history, messages_until
from tests.support.server import ChatClient
from tests.support.sse import StreamClosed
from tests.support.workers import (
    PinnedClient,
    children,
    connection_owner,
    wait_for_workers,
)

PER_VICTIM_POSTER = 40
AFTER_KILL = 20  # posts each surviving poster makes after the kill


def _post(client: PinnedClient, room: str, text: str, statuses: list) -> str:
    message_id = str(uuid.uuid4())
    while True:
        status, headers, body = client.request(
            "POST", f"/rooms/{room}/messages", {"id": message_id, "message": text})
        statuses.append(status)
        if status == 202:
            return message_id
        assert status == 503 and headers.get("retry-after"), (status, body)
        time.sleep(0.1)  # the same id again, sooner than Retry-After: always safe


def test_sigkill_of_one_worker_right_after_its_last_202(fleet, client_on):
    (server,) = fleet(1, WEB_CONCURRENCY="2", CHAT_RATE_LIMIT="10000/second")
    workers = wait_for_workers(server.pid, 2)
    owner = client_on(server)
    room = owner.create_room()["id"]

    # A reader's stream on each worker.
    streams: dict[int, object] = {}
    readers: dict[int, ChatClient] = {}
    deadline = time.monotonic() + 20
    while len(streams) < 2:
        assert time.monotonic() < deadline, "no stream landed on both workers"
        reader = client_on(server)
        reader.join(room)
        sse = reader.subscribe()
        sse.wait_ready()
        pid = connection_owner(workers, server.port, sse.local_port)
        if pid in streams:
            sse.close()
        else:
            streams[pid], readers[pid] = sse, reader

    # Kept-alive posters, sorted by the worker that accepted their connection, until each
    # worker has two (the kernel hands a new connection to whichever worker accepts).
    # Opened last, right before the burst, from users made beforehand: gunicorn closes a
    # kept-alive connection idle for `keepalive` (2 s) seconds.
    users = [client_on(server) for _ in range(4)]
    for user in users:
        user.join(room)
    by_worker: dict[int, list[PinnedClient]] = {pid: [] for pid in workers}
    spare: list[PinnedClient] = []
    deadline = time.monotonic() + 20
    n = 0
    while min(len(v) for v in by_worker.values()) < 2:
        assert time.monotonic() < deadline, {k: len(v) for k, v in by_worker.items()}
        pinned = PinnedClient(server.port, users[n % len(users)].token)
        n += 1
        assert pinned.request("GET", "/rooms")[0] == 200
        pid = connection_owner(workers, server.port, pinned.local_port)
        (by_worker[pid] if len(by_worker[pid]) < 2 else spare).append(pinned)
    for pinned in spare:
        pinned.close()
    victim, survivor = workers

    accepted: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    victim_left = [len(by_worker[victim])]
    killed, failed = threading.Event(), threading.Event()

    def victim_poster(client: PinnedClient) -> None:
        try:
            for i in range(PER_VICTIM_POSTER):
                message_id = _post(client, room, f"victim {i}", statuses)
                with lock:
                    accepted.append(message_id)
        except BaseException:
            failed.set()  # the survivors stop too: the test fails instead of hanging
            raise
        with lock:
            victim_left[0] -= 1
            last = victim_left[0] == 0
        if last:  # this worker's last 202 has just been read: kill it now
            os.kill(victim, signal.SIGKILL)
            killed.set()

    def survivor_poster(client: PinnedClient) -> None:
        after = 0
        i = 0
        while after < AFTER_KILL and not failed.is_set():
            assert i < 50 * PER_VICTIM_POSTER, "the victim worker was never killed"
            if killed.is_set():
                after += 1
            message_id = _post(client, room, f"survivor {i}", statuses)
            i += 1
            with lock:
                accepted.append(message_id)

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(victim_poster, c) for c in by_worker[victim]]
        futures += [pool.submit(survivor_poster, c) for c in by_worker[survivor]]
        for future in futures:
            future.result()
    took = time.monotonic() - started
    for clients in by_worker.values():
        for pinned in clients:
            pinned.close()

    # The master replaces the killed worker, and the instance answers.
    replaced = wait_for_workers(server.pid, 2, exclude={victim})
    assert survivor in replaced
    assert server.running

    marker = owner.post_message(room, f"marker {uuid.uuid4()}")["id"]
    history = [m["id"] for m in full_history(owner, room)]
    assert history[-1] == marker
    stored = history[:-1]
    assert set(statuses) <= {202, 503}
    assert len(stored) == len(set(stored))
    assert sorted(stored) == sorted(accepted), "history is not exactly the 202'd posts"

    live = messages_until(streams[survivor], marker, room, timeout=20)
    assert live == stored

    # The victim's stream ended with its worker; it resumes after what it had received.
    dead = streams[victim]
    assert dead.wait_closed(10)
    before_kill = []
    while True:
        try:
            event = dead.next_event(0)
        except (TimeoutError, StreamClosed):  # nothing more was received
            break
        if event.event == "message" and event.json()["room"] == room:
            before_kill.append(event.json()["id"])
    assert before_kill == stored[:len(before_kill)]
    resume_from = before_kill[-1] if before_kill else None
    with readers[victim].subscribe(last_event_id=resume_from) as resumed:
        resumed.wait_ready()
        rest = messages_until(resumed, marker, room, timeout=20)
    assert before_kill + rest == stored
    for sse in streams.values():
        sse.close()
    print(f"\n{len(accepted)} posts in {took:.2f} s ({len(by_worker[victim])} posters on the "
          f"killed worker, {PER_VICTIM_POSTER} each); the killed worker's stream had "
          f"{len(before_kill)} messages, resumed {len(rest)}; workers {workers} -> "
          f"{children(server.pid)}")
