"""`GET /users/{id}/subscribe`: the caller's own event stream (chat/realtime/stream.py)."""

from flask import Blueprint, current_app, g, request

from chat.access import require_self
from chat.errors import APIError
from chat.models import utc
from chat.realtime import get_realtime
from chat.realtime.hub import TooManyStreams
from chat.realtime.stream import open_stream

bp = Blueprint("stream", __name__)


@bp.get("/users/<uid:user_id>/subscribe")
def subscribe(user_id):
    require_self(user_id)
    config = current_app.config
    # A reloaded page opens a new EventSource, which cannot set the header: the query
    # parameter means the same (the header wins).
    last_event_id = (request.headers.get("Last-Event-ID")
                     or request.args.get("last_event_id") or None)
    try:
        return open_stream(get_realtime(), g.user.id, g.session.id, last_event_id,
                           expires_at=utc(g.session.expires_at),
                           keepalive=config["CHAT_KEEPALIVE_SECONDS"],
                           replay_limit=config["CHAT_REPLAY_LIMIT"])
    except TooManyStreams:
        raise APIError(429, "rate_limited",
                       f"At most {config['CHAT_MAX_STREAMS_PER_USER']} open streams per user",
                       {"Retry-After": "5"}) from None
