"""Message search: one interface, an engine per database.

A word is a run of Unicode letters and digits, as both indexes (migration 0004) see it:
PostgreSQL's stored `search_vector` (to_tsvector 'simple' of the text with its ASCII
punctuation made spaces) with a GIN index, and SQLite's FTS5 table `messages_fts`
(unicode61), whose rowid is the message's seq. Neither is in chat/models.py: only this
module reads them.

User text never reaches either query language as syntax: the words are extracted here
and each goes in as a quoted term, so quotes, `*`, `:`, `&`, `NEAR`, `AND` and the like
are only ever separators or plain words.
"""

import re

from flask import g
from sqlalchemy import column, select, table, text

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


def find_messages(words, room_id, limit, before):
    """The caller's (g.user's) search: in `room_id` (any room they may read) or else in every live
    room they are a member of; `before` a message id of those rooms."""
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


# -- PostgreSQL ---------------------------------------------------------------------------

def tsquery(words, prefix_last):
    """`'w1' & 'w2' & 'w3':*` for to_tsquery('simple', ...): every word a quoted lexeme
    (a quote inside is doubled, though `_WORD` lets none through)."""
    terms = ["'" + word.replace("'", "''") + "'" for word in words]
    if prefix_last:
        terms[-1] += ":*"
    return " & ".join(terms)


_MATCHES = text("messages.search_vector @@ to_tsquery('simple', :tsquery)")


def _postgres(session, words, prefix_last, room_ids, limit, before_seq):
    query = _readable(room_ids).where(_MATCHES).order_by(Message.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    return session.scalars(query, {"tsquery": tsquery(words, prefix_last)}).all()


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
