"""SharedReads (chat/realtime/shared_reads.py): many resumes from one place cost one read,
a longer range reads only its tail, and every change that alters a committed range's
answer empties the store."""

import pytest

from chat.realtime import shared_reads
from chat.realtime.shared_reads import SharedReads

ROOMS = {"general"}


class FakeLog:
    """read_range over a dict of seq -> text, counting the places read."""

    def __init__(self, last):
        self.text = {seq: f"m{seq}" for seq in range(1, last + 1)}
        self.reads = []

    def read_range(self, session, first, last, rooms):
        self.reads.append((first, last))
        return [{"kind": "message", "seq": seq, "message": self.text[seq], "room": "general"}
                for seq in range(first, last + 1) if seq in self.text]


def _seqs(entries):
    return [entry["seq"] for entry in entries]


def test_the_same_range_is_read_once_and_a_longer_one_reads_its_tail():
    log = FakeLog(30)
    reads = SharedReads(log.read_range)
    assert _seqs(reads.read(None, 11, 20, ROOMS)) == list(range(11, 21))
    assert _seqs(reads.read(None, 11, 20, ROOMS)) == list(range(11, 21))
    assert _seqs(reads.read(None, 11, 25, ROOMS)) == list(range(11, 26))
    assert _seqs(reads.read(None, 11, 15, ROOMS)) == list(range(11, 16))  # a shorter one
    assert log.reads == [(11, 20), (21, 25)]
    # Another start or other rooms are another read.
    reads.read(None, 12, 20, ROOMS)
    reads.read(None, 11, 20, {"general", "random"})
    assert log.reads[2:] == [(12, 20), (11, 20)]


def test_callers_get_their_own_lists():
    log = FakeLog(5)
    reads = SharedReads(log.read_range)
    first = reads.read(None, 1, 5, ROOMS)
    first.append("mine")
    assert _seqs(reads.read(None, 1, 5, ROOMS)) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("event", [
    {"type": "log", "entries": [{"kind": "edit", "seq": 31}]},
    {"type": "log", "entries": [{"kind": "delete", "seq": 31}]},
    {"type": "log", "entries": [{"kind": "reaction", "seq": 31}]},
    {"type": "close", "user": "u", "session": None},  # an account deletion (or ban)
])
def test_a_change_to_shown_messages_empties_the_store(event):
    log = FakeLog(30)
    reads = SharedReads(log.read_range)
    reads.read(None, 1, 30, ROOMS)
    log.text[5] = "edited"
    reads.observe(event)
    assert reads.read(None, 1, 30, ROOMS)[4]["message"] == "edited"
    assert len(log.reads) == 2


@pytest.mark.parametrize("event", [
    {"type": "log", "entries": [{"kind": "message", "seq": 31}]},
    {"type": "log", "entries": [{"kind": "membership", "seq": 31}]},
    {"type": "close", "user": "u", "session": "s"},  # a sign-out changes no message
    {"type": "typing", "room": "r", "user": "u"},
])
def test_other_events_keep_it(event):
    log = FakeLog(30)
    reads = SharedReads(log.read_range)
    reads.read(None, 1, 30, ROOMS)
    reads.observe(event)
    reads.read(None, 1, 30, ROOMS)
    assert len(log.reads) == 1


def test_a_read_that_raced_a_change_is_handed_out_but_not_kept():
    log = FakeLog(30)
    reads = SharedReads(None)

    def racing_read(session, first, last, rooms):
        entries = log.read_range(session, first, last, rooms)
        reads.observe({"type": "log", "entries": [{"kind": "delete", "seq": 31}]})
        return entries

    reads._read_range = racing_read
    assert _seqs(reads.read(None, 1, 10, ROOMS)) == list(range(1, 11))
    reads._read_range = log.read_range
    reads.read(None, 1, 10, ROOMS)
    assert log.reads == [(1, 10), (1, 10)]  # read again: the first answer was not kept


def test_old_runs_expire_and_the_store_stays_bounded(monkeypatch):
    log = FakeLog(100)
    reads = SharedReads(log.read_range, ttl=0)
    reads.read(None, 1, 10, ROOMS)
    reads.read(None, 1, 10, ROOMS)
    assert len(log.reads) == 2  # expired at once
    monkeypatch.setattr(shared_reads, "MAX_ENTRIES", 50)
    reads = SharedReads(log.read_range)
    for start in range(1, 60, 10):
        reads.read(None, start, start + 9, ROOMS)
    assert sum(len(run.entries) for run in reads._runs.values()) <= 50
