"""Message search (API.md 1.1): `GET /search/messages?q=&room=&limit=&before=`."""

import uuid

from flask import Blueprint, request

from chat import search
from chat.errors import bad_request
from chat.extensions import db
from chat.messages import serialize
from chat.validation import int_arg, uuid_arg

bp = Blueprint("search", __name__)

DEFAULT_PAGE, MAX_PAGE = 20, 50
MAX_WORDS = 32


def _room_arg():
    raw = request.args.get("room")
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise bad_request("'room' must be a room id") from None


@bp.get("/search/messages")
def search_messages():
    # Every 400 comes before the room's 404/403, as for malformed ids elsewhere.
    words = search.query_words(request.args.get("q"))
    if not words:
        raise bad_request("'q' must hold at least one word (letters or digits)")
    if len(words) > MAX_WORDS:  # each word costs index lookups (one per room, even)
        raise bad_request(f"'q' may hold at most {MAX_WORDS} different words")
    limit = int_arg("limit", DEFAULT_PAGE, MAX_PAGE)
    room_id = _room_arg()
    before = uuid_arg("before", code="invalid_cursor")
    rows = search.find_messages(words, room_id, limit, before)
    return serialize(db.session, rows)
