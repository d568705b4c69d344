"""`GET /users/{id}/subscribe`: the caller's own event stream (chat/realtime/stream.py)."""

from flask import Blueprint, current_app, g, request

from chat.access import require_self
from chat.auth import caller_from_memory
from chat.api.openapi import RETRY_AFTER, operation
from chat.errors import APIError
from chat.models import utc
from chat.realtime import get_realtime
from chat.realtime.hub import TooManyStreams
from chat.realtime.stream import open_stream
from chat.schemas import SSE_EVENTS

_DESCRIPTION = """\
Only `{id}` = the caller. Events are framed per the WHATWG Server-Sent Events spec:

- first a `retry: <ms>` line and `event: ready` (`ReadyEvent`), sent once the stream is
  registered: anything posted after a client has seen `ready` reaches it; on resume the
  replayed messages (or `reset`) come right after `ready`, then live ones;
- chat messages: **no** `event:` field, an `id:` line with the message id, `data:` the
  Message;
- `: keepalive` comments every CHAT_KEEPALIVE_SECONDS (15) while idle;
- named events without an `id:` line: `presence`, `membership`, `room`, `invitation`,
  `read`, `reset`, `edit`, `delete`, `reaction`, `typing`.

The `x-sse-events` extension of the `text/event-stream` media type maps each event name to
the schema of its JSON data ("message" is the unnamed chat message event). A user may hold
up to CHAT_MAX_STREAMS_PER_USER (10) streams; a stream that cannot keep up is closed and
the client resumes with `Last-Event-ID`.
"""

_STREAM = {
    "description": "The event stream.",
    "headers": {
        "Cache-Control": {"schema": {"type": "string", "const": "no-cache"}},
        "X-Accel-Buffering": {"schema": {"type": "string", "const": "no"}},
    },
    "content": {"text/event-stream": {
        "schema": {"type": "string"},
        "example": (
            "retry: 3000\n\n"
            "event: ready\ndata: {\"user\":\"f2d9...\",\"rooms\":[\"1118...\"]}\n\n"
            "id: 8f102c70-8eba-4094-bd4d-7f70d71b21f2\n"
            "data: {\"id\":\"8f102c70-...\",\"user\":\"f2d9...\",\"room\":\"1118...\","
            "\"message\":\"Hello\",\"created_at\":\"2025-05-04T20:56:16Z\"}\n\n"
            ": keepalive\n\n"),
        # Event name -> schema of its JSON `data`; "message" is the unnamed chat message
        # event (it alone carries an `id:` line).
        "x-sse-events": {name: {"$ref": f"#/components/schemas/{model.__name__}"}
                         for name, model in SSE_EVENTS.items()},
    }},
}
_LAST_EVENT_ID = [
    {"name": "Last-Event-ID", "in": "header", "required": False,
     "description": "Resume after this message id (as EventSource sends it). An unknown "
                    "id, or more than CHAT_REPLAY_LIMIT missing messages, gives "
                    "`event: reset`.",
     "schema": {"type": "string"}},
    {"name": "last_event_id", "in": "query", "required": False,
     "description": "The same, for a new EventSource that cannot set headers (the header "
                    "wins).",
     "schema": {"type": "string"}},
]

bp = Blueprint("stream", __name__)


@bp.get("/users/<uid:user_id>/subscribe")
# A hot route: pages reconnect all at once (a network blip, a slow stream closed), and a
# remembered session costs such an open no query (docs/benchmarks.md, section 3d).
@caller_from_memory
@operation("subscribe", "events", "The caller's event stream (Server-Sent Events)",
           description=_DESCRIPTION, extra_parameters=_LAST_EVENT_ID,
           ok={200: _STREAM},
           errors={403: ("`{id}` is not the caller.", ["forbidden"]),
                   429: ("The caller already holds CHAT_MAX_STREAMS_PER_USER open streams.",
                         ["rate_limited"], {"Retry-After": RETRY_AFTER})})
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
