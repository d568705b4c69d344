"""AccessMemory (chat/realtime/access_memory.py): what it keeps, what forgets it, and the race
guard that keeps a sign-out from being overwritten by the read it raced."""

import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

from chat.realtime import access_memory
from chat.realtime.access_memory import AccessMemory
from chat.models import utcnow


def _session(user_id, days=1):
    return SimpleNamespace(id=uuid.uuid4(), user_id=user_id,
                           expires_at=utcnow() + timedelta(days=days))


def _user():
    return SimpleNamespace(id=uuid.uuid4(), name="ann", is_admin=False)


def _room():
    return SimpleNamespace(id=uuid.uuid4(), kind="public", owner_id=None)


def _remembered(ttl=10):
    memory = AccessMemory(ttl)
    user = _user()
    session = _session(user.id)
    memory.keep_session("token", session, user, memory.epoch)
    return memory, user, session


def test_a_kept_session_is_answered_with_the_caller():
    memory, user, session = _remembered()
    found_session, caller = memory.session("token")
    assert (found_session.id, caller.id, caller.name) == (session.id, user.id, "ann")
    assert memory.session("other token") is None


def test_a_sign_out_forgets_that_session_only():
    memory, user, session = _remembered()
    other = _session(user.id)
    memory.keep_session("second", other, user, memory.epoch)
    memory.observe({"type": "close", "user": str(user.id), "session": str(session.id)})
    assert memory.session("token") is None
    assert memory.session("second") is not None
    # Ending all of a user's sessions (account ban, deletion) forgets every one.
    memory.observe({"type": "close", "user": str(user.id), "session": None})
    assert memory.session("second") is None


def test_an_answer_read_while_something_changed_is_not_kept():
    memory = AccessMemory(10)
    user, session, room = _user(), _session(uuid.uuid4()), _room()
    epoch = memory.epoch  # a request reads the epoch, then asks the database...
    memory.observe({"type": "close", "user": str(user.id), "session": None})  # ...sign-out
    memory.keep_session("token", session, user, epoch)
    memory.keep_member(room, user.id, epoch)
    assert memory.session("token") is None
    assert memory.member_room(room.id, user.id) is None


def test_membership_entries_forget_that_membership_whoever_applies_them():
    memory = AccessMemory(10)
    user, room, other_room = _user(), _room(), _room()
    memory.keep_member(room, user.id, memory.epoch)
    memory.keep_member(other_room, user.id, memory.epoch)
    assert memory.member_room(room.id, user.id).id == room.id
    # A message entry changes nothing; a kick does; a room deletion's entry does too.
    memory.observe({"type": "log", "entries": [
        {"kind": "message", "room": str(room.id), "user": str(user.id), "seq": 1}]})
    assert memory.member_room(room.id, user.id) is not None
    memory.observe({"type": "log", "entries": [
        {"kind": "membership", "room": str(room.id), "user": str(user.id),
         "action": "kicked", "seq": 2}]})
    assert memory.member_room(room.id, user.id) is None
    assert memory.member_room(other_room.id, user.id) is not None
    memory.observe({"type": "log", "entries": [
        {"kind": "room", "room": str(other_room.id), "user": str(user.id),
         "action": "deleted", "seq": 3}]})
    assert memory.member_room(other_room.id, user.id) is None


def test_entries_expire_and_an_expired_session_is_never_answered(monkeypatch):
    memory, user, _ = _remembered(ttl=5)
    room = _room()
    memory.keep_member(room, user.id, memory.epoch)
    now = time.monotonic()
    monkeypatch.setattr(access_memory.time, "monotonic", lambda: now + 6)
    assert memory.session("token") is None
    assert memory.member_room(room.id, user.id) is None
    # A session past its own expiry is refused however recently it was kept.
    monkeypatch.undo()
    memory.keep_session("late", _session(user.id, days=-1), user, memory.epoch)
    assert memory.session("late") is None


def test_a_broker_reconnect_forgets_everything_and_zero_seconds_keeps_nothing():
    memory, user, _ = _remembered()
    memory.forget_everything()
    assert memory.session("token") is None
    off = AccessMemory(0)
    off.keep_session("token", _session(user.id), user, off.epoch)
    off.keep_member(_room(), user.id, off.epoch)
    assert off.session("token") is None and not off._members


def test_memory_stays_bounded(monkeypatch):
    monkeypatch.setattr(access_memory, "MAX_ENTRIES", 100)
    memory = AccessMemory(10)
    user = _user()
    for n in range(250):
        memory.keep_session(f"t{n}", _session(user.id), user, memory.epoch)
        memory.keep_member(_room(), user.id, memory.epoch)
    assert len(memory._sessions) <= 100 and len(memory._members) <= 100
    assert len(memory._tokens_of[str(user.id)]) <= 100


def test_while_suspended_nothing_is_kept_and_resuming_starts_empty():
    memory, user, session = _remembered()
    room = _room()
    memory.suspend()  # the broker went away
    assert memory.session("token") is None
    memory.keep_session("token", session, user, memory.epoch)
    memory.keep_member(room, user.id, memory.epoch)
    assert memory.session("token") is None and memory.member_room(room.id, user.id) is None
    memory.resume()
    memory.keep_session("token", session, user, memory.epoch)
    assert memory.session("token") is not None
