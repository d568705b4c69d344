"""Message search (API.md 1.1): `GET /search/messages?q=&room=&limit=&before=`."""

from flask import Blueprint

from chat import search
from chat.api.openapi import operation
from chat.extensions import db
from chat.messages import serialize
from chat.schemas import SEARCH_MAX, SearchQuery, parse_query

bp = Blueprint("search", __name__)


@bp.get("/search/messages")
@operation(
    "searchMessages", "messages", "Search messages",
    description="Messages whose text has every word of `q` as a word (a word is a run of "
                "letters and digits; case-insensitive; the last word may be a prefix), "
                "newest first. Without `room`: the live rooms the caller is a member of; "
                "with `room`: that room, which may be any public room the caller is not "
                "banned from. Deleted messages never appear.",
    query=SearchQuery,
    ok={200: ({"type": "array", "items": {"$ref": "#/components/schemas/Message"},
               "maxItems": SEARCH_MAX}, "Matching messages, newest first.")},
    errors={400: "Also `invalid_cursor` (`before` is not a message of the rooms searched).",
            403: "With `room`: the caller is banned from that room (`banned`).",
            404: "With `room`: no such room, a deactivated room, or a private or direct "
                 "room the caller is not a member of."})
def search_messages():
    # Every 400 comes before the room's 404/403, as for malformed ids elsewhere.
    query = parse_query(SearchQuery)
    rows = search.find_messages(query.q, query.room, query.limit, query.before)
    return serialize(db.session, rows)
