"""The processor with injected faults: a poison row, a pool timeout, a database that is
down then up, an ambiguous commit, a loop that crashes, a stop during a failure."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
from flask import Flask
from sqlalchemy import exc as sa_exc

from chat.realtime.batch_store import StoredBatch
from chat.realtime.processor import MessageProcessor


def _message(text="hi", **extra):
    return {"id": str(uuid.uuid4()), "user": str(uuid.uuid4()), "room": str(uuid.uuid4()),
            "message": text, "created_at": "2026-01-01T00:00:00.000000Z",
            "created_at_dt": None, "accepted_at": time.time(), **extra}


class FakeStore:
    """Stores in memory, with places from a counter; `faults` is consumed one per call."""

    def __init__(self, faults=(), poison=lambda m: False):
        self.rows = {}
        self.seq = itertools.count(1)
        self.faults = list(faults)
        self.poison = poison
        self.calls = 0

    def __call__(self, messages):
        self.calls += 1
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "ambiguous":  # committed, but the answer was lost
                self._commit(messages)
                raise sa_exc.OperationalError("COMMIT", {}, Exception("connection cut"))
            if fault is not None:
                raise fault
        if any(self.poison(m) for m in messages):
            raise sa_exc.DataError("INSERT", {}, Exception("refused"))
        return self._commit(messages)

    def _commit(self, messages):
        first = None
        new, earlier = [], []
        for message in messages:
            seq = next(self.seq)
            first = first or seq
            if message["id"] in self.rows:
                earlier.append(self.rows[message["id"]])
                continue
            entry = {**message, "kind": "message", "seq": seq}
            self.rows[message["id"]] = entry
            new.append(entry)
        return StoredBatch(first, first + len(messages) - 1, new, earlier)


def _processor(store, **kw):
    published = []
    processor = MessageProcessor(Flask(__name__), published.append, queue_size=100,
                                 batch_size=kw.get("batch_size", 50), store=store)
    return processor, published


def _published_ids(published):
    return [e["id"] for event in published for e in event["entries"]]


def test_a_poison_row_is_dropped_alone_and_the_rest_is_stored():
    store = FakeStore(poison=lambda m: m["message"] == "poison")
    processor, published = _processor(store)
    gate = threading.Event()
    processor.store = lambda msgs: (gate.wait(5), store(msgs))[1]  # batch them all up
    processor.start()
    tickets = [processor.submit(_message(t)) for t in ("a", "b", "poison", "c", "d")]
    gate.set()
    for ticket in tickets:
        assert ticket.wait(5)
    assert [t.outcome for t in tickets] == ["stored", "stored", "refused", "stored", "stored"]
    assert sorted(m["message"] for m in store.rows.values()) == ["a", "b", "c", "d"]
    assert processor.health() == "ok"
    after = processor.submit(_message("after"))
    assert after.wait(5) and after.outcome == "stored"
    processor.stop(5)


@pytest.mark.parametrize("fault", [
    sa_exc.TimeoutError("QueuePool limit reached"),
    sa_exc.OperationalError("SELECT", {}, Exception("server closed the connection")),
])
def test_transient_failures_are_retried_until_stored(fault):
    store = FakeStore(faults=[fault, fault, None])
    processor, published = _processor(store)
    processor.start()
    ticket = processor.submit(_message("survives"))
    assert ticket.wait(5) and ticket.outcome == "stored"
    assert store.calls == 3
    assert _published_ids(published) == [ticket.message["id"]]
    processor.stop(5)


def test_an_ambiguous_commit_is_found_and_published():
    store = FakeStore(faults=["ambiguous"])
    processor, published = _processor(store)
    processor.start()
    ticket = processor.submit(_message("stored at the cut"))
    assert ticket.wait(5) and ticket.outcome == "stored"
    assert ticket.stored["seq"] == 1  # the place of the commit whose answer was lost
    assert _published_ids(published) == [ticket.message["id"]]  # not lost for streams
    processor.stop(5)


def test_a_crashing_loop_is_restarted():
    store = FakeStore()
    processor, published = _processor(store)
    original = processor._process
    calls = []

    def crash_once(batch):
        calls.append(batch)
        if len(calls) == 1:
            for ticket in batch:  # what escapes the loop: nobody must wait forever
                ticket.outcome = "refused"
                ticket.done.set()
            raise RuntimeError("a bug in the loop")
        return original(batch)

    processor._process = crash_once
    processor.start()
    first = processor.submit(_message("lost to the bug"))
    assert first.wait(5)
    second = processor.submit(_message("after the restart"))
    assert second.wait(5) and second.outcome == "stored"
    assert processor.health() == "ok"
    processor.stop(5)


def test_stop_during_a_failure_still_stores_everything_accepted():
    down = [sa_exc.OperationalError("INSERT", {}, Exception("down"))] * 3
    store = FakeStore(faults=down)
    processor, published = _processor(store, batch_size=2)
    processor.start()
    tickets = [processor.submit(_message(f"m{i}")) for i in range(5)]
    processor.stop(10)
    assert all(t.done.is_set() and t.outcome == "stored" for t in tickets)
    assert len(store.rows) == 5


def test_health_reports_a_stall_when_accepted_messages_wait_without_a_commit():
    gate = threading.Event()
    store = FakeStore()
    processor, _ = _processor(lambda msgs: (gate.wait(5), store(msgs))[1])
    processor.start()
    ticket = processor.submit(_message(accepted_at=time.time() - 60))
    processor.last_commit = time.time() - 60
    assert processor.health() == "stalled"
    gate.set()
    assert ticket.wait(5)
    assert processor.health() == "ok"
    processor.stop(5)
