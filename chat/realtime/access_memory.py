"""What the hottest routes ask on every request — whose session is this token, is this
user a member of this room — answered from memory instead of two database round trips.

The answers are kept exact by the events that change them, the same ones that end streams
and move delivery scope:
  close        a sign-out (one session) or the end of all of a user's sessions (account
               ban, account deletion): those sessions are forgotten;
  log entries  every join, leave, kick, ban and room deletion takes a place in the order
               (chat/realtime/order.py): that user's membership of that room is forgotten.
A change made by this worker is observed before its request answers (`Realtime.publish`);
one made elsewhere when its event arrives, through the bus or, when a publish was lost,
through the ordered feed's read of the database. While the broker is unreachable nothing
is remembered (another worker's sign-out could not arrive), and the memory starts empty
when it is back. Only positive answers are kept (a valid
session, a membership): a refusal always asks the database again. Memberships are kept
wherever the database gives them — any room check that finds one, a stream's list of the
user's rooms — so the page's first requests (history, the stream it opens or reopens after
a deploy) warm them before someone types or posts. Sessions are kept only by the hot
routes themselves, once used there: a session expired in the database before then (by an
operator, or a test) is refused at once everywhere.

Two guards make the memory no staler than those events:
- An answer read from the database is kept only if no change was observed while it was
  being read (`epoch`): otherwise a sign-out racing the read could be overwritten by the
  session it just ended.
- Entries expire after CHAT_ACCESS_MEMORY_SECONDS (default 60), which bounds what no event
  announces: a session row deleted by hand, an expiry moved in the database. Each expiry
  costs the next call both queries again: at 10 s, a crowd of 1,000 typing once a second
  missed on one call in ten (docs/benchmarks.md, section 7).
Session expiry itself is checked on every use.
"""

import threading
import time
import uuid
from typing import NamedTuple

from chat.models import utc
from chat.realtime.order import MEMBERSHIP_KINDS

MAX_ENTRIES = 100_000  # each map is emptied when it reaches this: memory stays bounded


class Caller(NamedTuple):
    """`g.user` on a route that answers from memory: what such routes need of the user."""

    id: uuid.UUID
    name: str
    is_admin: bool


class SessionRef(NamedTuple):
    """`g.session` on such a route."""

    id: uuid.UUID
    user_id: uuid.UUID
    expires_at: object  # aware datetime (UTC)


class RoomRef(NamedTuple):
    """The room `member_room` hands to such a route."""

    id: uuid.UUID
    kind: str
    owner_id: uuid.UUID | None

    @classmethod
    def of(cls, room):
        return cls(room.id, room.kind, room.owner_id)


class AccessMemory:
    def __init__(self, ttl_seconds):
        self.ttl = ttl_seconds
        self.epoch = 0  # bumped by every change observed
        self.suspended = False
        self._sessions = {}  # token hash -> (SessionRef, Caller, kept at, expiry timestamp)
        self._tokens_of = {}  # user id (str) -> token hashes kept for them
        self._members = {}  # (room id, user id) -> (RoomRef, kept at)
        self._lock = threading.Lock()

    @property
    def enabled(self):
        return self.ttl > 0 and not self.suspended

    def suspend(self):
        """The broker is unreachable: events of other workers may be lost (a sign-out is
        not in the log), so nothing is answered from memory until `resume`."""
        self.suspended = True
        self.forget_everything()

    def resume(self):
        """The broker is back: start from an empty memory (events may have been lost)."""
        self.forget_everything()
        self.suspended = False

    # -- answers -------------------------------------------------------------------------

    def session(self, token_hash):
        """(SessionRef, Caller) of a live session, or None (ask the database)."""
        found = self._sessions.get(token_hash)
        if found is None:
            return None
        session, caller, kept_at, ends_at = found
        if time.monotonic() - kept_at > self.ttl or time.time() >= ends_at:
            with self._lock:
                self._sessions.pop(token_hash, None)
                self._tokens_of.get(str(session.user_id), set()).discard(token_hash)
            return None
        return session, caller

    def member_room(self, room_id, user_id):
        """The RoomRef of a live room the user is a member of, or None (ask)."""
        found = self._members.get((room_id, user_id))
        if found is None:
            return None
        room, kept_at = found
        if time.monotonic() - kept_at > self.ttl:
            self._members.pop((room_id, user_id), None)
            return None
        return room

    # -- remembering (only with the epoch read before the database was asked) ------------

    def keep_session(self, token_hash, session, user, epoch):
        if not self.enabled:
            return
        # The expiry as a timestamp, computed once: checked on every hit.
        kept = (SessionRef(session.id, session.user_id, session.expires_at),
                Caller(user.id, user.name, user.is_admin), time.monotonic(),
                utc(session.expires_at).timestamp())
        with self._lock:
            if epoch != self.epoch:
                return  # something changed while the answer was read: it may be stale
            if len(self._sessions) >= MAX_ENTRIES:
                self._sessions.clear()
                self._tokens_of.clear()
            self._sessions[token_hash] = kept
            self._tokens_of.setdefault(str(user.id), set()).add(token_hash)

    def keep_member(self, room, user_id, epoch):
        self.keep_members([room], user_id, epoch)

    def keep_members(self, rooms, user_id, epoch):
        """Rooms (anything with id, kind and owner_id) the user is a member of."""
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if epoch != self.epoch:
                return
            if len(self._members) + len(rooms) > MAX_ENTRIES:
                self._members.clear()
            for room in rooms:
                self._members[(room.id, user_id)] = (RoomRef.of(room), now)

    # -- forgetting ----------------------------------------------------------------------

    def observe(self, event):
        """Forgets what a bus event changes (any event: the others change nothing here)."""
        kind = event.get("type")
        if kind == "close":
            self._forget_sessions(event.get("user"), event.get("session"))
        elif kind == "log":
            pairs = [(entry["room"], entry["user"]) for entry in event.get("entries", ())
                     if entry.get("kind") in MEMBERSHIP_KINDS]
            if pairs:
                self._forget_members(pairs)

    def forget_everything(self):
        with self._lock:
            self.epoch += 1
            self._sessions.clear()
            self._tokens_of.clear()
            self._members.clear()

    def _forget_sessions(self, user_id, session_id):
        """One session of the user (`session_id`), or all of them (None)."""
        with self._lock:
            self.epoch += 1
            tokens = self._tokens_of.get(str(user_id), set())
            for token in list(tokens):
                kept = self._sessions.get(token)
                if kept is None or session_id is None or str(kept[0].id) == session_id:
                    self._sessions.pop(token, None)
                    tokens.discard(token)
            if not tokens:
                self._tokens_of.pop(str(user_id), None)

    def _forget_members(self, pairs):
        with self._lock:
            self.epoch += 1
            for room, user in pairs:
                self._members.pop((_as_uuid(room), _as_uuid(user)), None)


def _as_uuid(value):
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
