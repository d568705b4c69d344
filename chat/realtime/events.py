"""Server-Sent Events framing (WHATWG): pure functions from values to bytes.

Chat messages carry an `id:` line (the message id, so `Last-Event-ID` names the last
message seen) and no `event:` line (browsers get them in `onmessage`). Every other event
is named and has no `id:` line, so it never moves the client's resume point.
"""

import json

KEEPALIVE = b": keepalive\n\n"
MESSAGE_FIELDS = ("id", "user", "room", "message", "created_at", "reply_to", "edited_at",
                  "mentions", "reactions")


def _data_lines(payload):
    # Compact JSON never contains a raw newline (they are escaped), so one data line is
    # enough; splitting anyway keeps the framing right for any text.
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return "".join(f"data: {line}\n" for line in text.split("\n"))


def retry(milliseconds):
    return f"retry: {int(milliseconds)}\n\n".encode()


def public_message(message):
    """Exactly the fields API.md gives a Message, from an internal message dict (which
    also carries seq and timings)."""
    return {field: message[field] for field in MESSAGE_FIELDS}


def chat_message(message):
    """A stored message (a dict with at least MESSAGE_FIELDS) as one SSE event."""
    return f"id: {message['id']}\n{_data_lines(public_message(message))}\n".encode()


def named(event, payload):
    return f"event: {event}\n{_data_lines(payload)}\n".encode()


def entry(log_entry):
    """A log entry (chat/realtime/order.py) as the SSE event a stream sends for it."""
    kind = log_entry["kind"]
    if kind == "message":
        return chat_message(log_entry)
    if kind == "membership":
        return named("membership", {field: log_entry[field] for field in ("room", "user", "action")})
    if kind == "edit":
        return named("edit", public_message(log_entry["message"]))
    if kind == "delete":
        return named("delete", {"room": log_entry["room"], "message": log_entry["message_id"]})
    if kind == "reaction":
        return named("reaction", {"room": log_entry["room"], "message": log_entry["message_id"],
                                  "emoji": log_entry["emoji"], "user": log_entry["user"],
                                  "action": log_entry["action"]})
    return named("room", {"room": log_entry["room"], "action": log_entry["action"]})
