"""Message search: one interface, an engine per database.

A word is a run of Unicode letters and digits, as both indexes (migration 0004) see it:
PostgreSQL's stored `search_vector` (to_tsvector 'simple' of the text with its ASCII
punctuation made spaces, plus "room words", see below) with a GIN index, and SQLite's
FTS5 table `messages_fts` (unicode61), whose rowid is the message's seq. Neither is in
chat/models.py: only this module reads them.

User text never reaches either query language as syntax: the words are extracted here
and each goes in as a quoted term, so quotes, `*`, `:`, `&`, `NEAR`, `AND` and the like
are only ever separators or plain words.
"""

import re
from contextlib import contextmanager

from flask import g
from sqlalchemy import column, func, select, table, text
from sqlalchemy.orm import aliased

from chat.access import readable_room
from chat.errors import APIError
from chat.extensions import db
from chat.models import Membership, Message, Room

# Letters and digits of any script (`\w` without the underscore, which both indexes
# treat as punctuation).
_WORD = re.compile(r"[^\W_]+")


def query_words(q):
    """The words of `q` in order, without repeats (they cannot narrow an AND search; a
    long repetitive `q` stays cheap). The last word stays last: it is the prefix."""
    words = _WORD.findall(q or "")
    if not words:
        return []
    last = words.pop()
    earlier = {}
    for word in words:
        earlier.setdefault(word.casefold(), word)
    return [*earlier.values(), last]


def find_messages(words, room_id, limit, before):
    """The search of the caller (g.user): in `room_id`, any room they may read, or else
    in every live room they are a member of; `before` is a message id of those rooms."""
    if room_id is not None:
        room_ids = [readable_room(room_id).id]
    else:
        room_ids = db.session.scalars(
            select(Membership.room_id).join(Room, Room.id == Membership.room_id)
            .where(Membership.user_id == g.user.id, Room.active)).all()
    before_seq = None
    if before is not None:
        # Deleted messages stay valid cursors, as in history.
        before_seq = db.session.scalar(select(Message.seq).where(
            Message.id == before, Message.room_id.in_(room_ids))) if room_ids else None
        if before_seq is None:
            raise APIError(400, "invalid_cursor",
                           "'before' is not a message of the rooms searched")
    return search_messages(db.session, words, True, room_ids, limit, before_seq)


def search_messages(session, words, prefix_last, room_ids, limit, before_seq=None):
    """Messages of `room_ids` (not deleted) whose text has every word of `words` (the
    last one as a prefix if `prefix_last`), newest first: at most `limit` rows, all with
    a seq below `before_seq` when given."""
    if not words or not room_ids:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _postgres(session, words, prefix_last, room_ids, limit, before_seq)
    return _sqlite(session, words, prefix_last, room_ids, limit, before_seq)


def _readable(room_ids):
    return select(Message).where(Message.room_id.in_(room_ids), Message.deleted_at.is_(None))


# -- PostgreSQL ---------------------------------------------------------------------------
#
# search_vector (migration 0004) holds each word twice: as itself, and as a "room word"
# '#<room key>:<word>', the room key being the room id's first 8 hex digits.

# The first step looks at the newest this many seq numbers (shared by all rooms).
RECENT_SEQS = 10_000
# The second step fetches up to this many messages with the whole words before it asks
# the index for the prefix, if the first step's window suggests there are no more (_rest).
PROBE_ROWS = 2_000
# Beyond this many rooms a room-word query would get long: the second step then looks the
# plain words up, and the room filter applies after fetching.
MAX_ROOM_KEYS = 500

# The words as the index has them, and (in the same round trip) the newest seq.
_LEXEMES = text("SELECT tsvector_to_array(to_tsvector('simple', word)), "
                "(SELECT max(seq) FROM messages) "
                "FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS w(word, n) ORDER BY n")
_MATCHES = text("messages.search_vector @@ CAST(:query AS tsquery)")
_MATCHES_WHOLE = text("messages.search_vector @@ CAST(:whole AS tsquery)")
_MATCHES_IN_ROOMS = text("messages.search_vector @@ CAST(:in_rooms AS tsquery)")
# Messages with the whole words in the rooms, and whether they match all of the query.
_PROBE = text("SELECT seq, room_id, deleted_at IS NULL AND search_vector @@ "
              "CAST(:query AS tsquery) FROM messages "
              "WHERE search_vector @@ CAST(:whole_in_rooms AS tsquery) LIMIT :probe")


def _postgres(session, words, prefix_last, room_ids, limit, before_seq):
    """Two steps, so that neither a common nor a rare word costs much:

    1. the newest RECENT_SEQS messages, walking seq backwards: a common word fills the
       page there, and the walk stops at `limit` (a GIN scan would fetch every match);
    2. if the page is not full, what is left is rare in these rooms: the GIN index
       finds it by the room words, so only real matches are fetched and sorted.

    Each step pins its plan: the planner, taking a word that is common in other rooms
    for common in these, would otherwise walk seq backwards through the whole table.
    """
    lexemes, newest = _lexemes(session, words, prefix_last)
    if not lexemes:
        return []
    params = {"query": " & ".join(_term(lexeme, prefix) for lexeme, prefix in lexemes)}
    top = before_seq if before_seq is not None else (newest or 0) + 1
    low = top - RECENT_SEQS
    window = _readable(room_ids).where(Message.seq >= low, Message.seq < top)
    whole = [(lexeme, prefix) for lexeme, prefix in lexemes if not prefix]
    with _only(session, "indexscan"):
        page = session.scalars(window.where(_MATCHES).order_by(Message.seq.desc())
                               .limit(limit), params).all()
        if len(page) == limit or low <= 0:
            return page
        probe = bool(whole) and len(whole) < len(lexemes)
        if probe:
            # How common the whole words are in the window tells whether probing pays.
            in_window = session.scalar(
                select(func.count()).select_from(window.where(_MATCHES_WHOLE).subquery()),
                {"whole": " & ".join(_term(lexeme, False) for lexeme, _ in whole)})
            probe = in_window * low / RECENT_SEQS <= PROBE_ROWS
    with _only(session, "bitmapscan"):
        return page + _rest(session, lexemes, params, room_ids, limit - len(page), low,
                            probe)


def _rest(session, lexemes, params, room_ids, limit, low, probe):
    """Step 2: the newest `limit` matches below seq `low`."""
    keys = sorted({str(room_id)[:8] for room_id in room_ids})
    if len(keys) > MAX_ROOM_KEYS:
        return session.scalars(_fenced(_MATCHES, room_ids, limit, low), params).all()

    def in_rooms(words):
        return " & ".join("(" + " | ".join(_term(f"#{key}:{lexeme}", prefix) for key in keys)
                          + ")" for lexeme, prefix in words)

    if probe:
        # A prefix makes GIN gather every word it begins (a common one: 100,000s of
        # rows). When the whole words are rare here, fetching their messages and
        # checking the prefix on them costs far less. (When they are common, an OR of
        # room words costs GIN dearly per match: the window's count rules that out.)
        whole = [(lexeme, prefix) for lexeme, prefix in lexemes if not prefix]
        candidates = session.execute(_PROBE, {**params, "whole_in_rooms": in_rooms(whole),
                                              "probe": PROBE_ROWS + 1}).all()
        if len(candidates) <= PROBE_ROWS:
            rooms = {str(room_id) for room_id in room_ids}
            seqs = sorted((seq for seq, room, match in candidates
                           if match and str(room) in rooms and seq < low), reverse=True)
            if not seqs[:limit]:
                return []
            return session.scalars(select(Message).where(Message.seq.in_(seqs[:limit]))
                                   .order_by(Message.seq.desc())).all()
    params = {**params, "in_rooms": in_rooms(lexemes)}
    return session.scalars(_fenced(_MATCHES_IN_ROOMS, room_ids, limit, low), params).all()


def _fenced(matches, room_ids, limit, low):
    """`matches` (a GIN condition) alone in a subquery that OFFSET 0 keeps whole, the
    rest outside: with the room and seq conditions beside it, the planner would AND
    bitmaps of the btrees, of nearly every row, to the few rows GIN finds."""
    found = aliased(Message, select(Message).where(matches).offset(0).subquery())
    return (select(found).where(found.room_id.in_(room_ids), found.deleted_at.is_(None),
                                found.seq < low)
            .order_by(found.seq.desc()).limit(limit))


def _lexemes(session, words, prefix_last):
    """[(lexeme, is prefix)], the newest seq: the words as PostgreSQL normalizes them
    (lower case, as in the index). A word the parser splits gives several; one it drops
    gives none."""
    out, newest = [], None
    for n, (lexemes, newest) in enumerate(session.execute(_LEXEMES, {"words": words})):
        out += [(lexeme, prefix_last and n == len(words) - 1) for lexeme in lexemes]
    return out, newest


def _term(lexeme, prefix):
    """One quoted tsquery lexeme (quote and backslash escaped), `:*` if a prefix."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "")


@contextmanager
def _only(session, scan):
    """`scan` (indexscan or bitmapscan) as the planner's only way to the table, in this
    transaction. (A failing statement ends the transaction, and these settings with it.)"""
    others = [name for name in ("indexscan", "bitmapscan", "seqscan") if name != scan]
    # One round trip each way: under load every round trip costs milliseconds.
    session.execute(text("; ".join(f"SET LOCAL enable_{name} = off" for name in others)))
    yield
    session.execute(text("; ".join(f"RESET enable_{name}" for name in others)))


# -- SQLite -------------------------------------------------------------------------------

def fts5_query(words, prefix_last):
    """`"w1" "w2" "w3"*` for FTS5 MATCH (implicit AND): every word a string, a double
    quote inside doubled; `*` after the last makes it a prefix."""
    terms = ['"' + word.replace('"', '""') + '"' for word in words]
    if prefix_last:
        terms[-1] += "*"
    return " ".join(terms)


_FTS = table("messages_fts", column("rowid"), column("messages_fts"))


def _sqlite(session, words, prefix_last, room_ids, limit, before_seq):
    # Driven by the FTS5 table, which walks its matches in rowid (= seq) order: newest
    # first needs no sort, and `rowid < before` narrows the FTS scan itself.
    query = (_readable(room_ids).join(_FTS, _FTS.c.rowid == Message.seq)
             .where(_FTS.c.messages_fts.match(fts5_query(words, prefix_last)))
             .order_by(_FTS.c.rowid.desc()).limit(limit))
    if before_seq is not None:
        query = query.where(_FTS.c.rowid < before_seq)
    return session.scalars(query).all()
