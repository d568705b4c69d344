"""Request parsing: JSON bodies, typed fields, path ids. Every failure is a 400 with a code."""

import re
import unicodedata
import uuid
from urllib.parse import unquote_to_bytes
from datetime import datetime, timezone

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from chat.errors import APIError, bad_request

USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # always fullmatch: "$" accepts "x\n"
# What no database column can hold: NUL, and lone surrogates (JSON can escape them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MISSING = object()


class UUIDConverter(BaseConverter):
    """`<uid:name>` in a route: any path segment, refused with 400 unless it is a UUID.

    Raising (rather than not matching) makes a malformed id a 400 before authentication
    and permission checks, as API.md asks, instead of a 404 from the router.
    """

    regex = r"[^/]+"

    def to_python(self, value):
        try:
            return uuid.UUID(value)
        except ValueError:
            raise APIError(400, "validation_error", f"{value!r} is not a valid id") from None

    def to_url(self, value):
        return str(value)


def _check_body_size():
    """413 when the body is over MAX_CONTENT_LENGTH. Werkzeug checks a Content-Length but
    silently cuts a chunked body at the limit: look for one more byte."""
    data = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if (limit is not None and request.content_length is None and len(data) >= limit
            and request.environ["wsgi.input"].read(1)):
        raise RequestEntityTooLarge()


def _refuse_unstorable(value, where):
    if _UNSTORABLE.search(value):
        raise bad_request(f"'{where}' holds a NUL character or a lone surrogate")


def _check_strings(value, where):
    """Every string in a decoded JSON value, keys included, must be storable."""
    if isinstance(value, str):
        _refuse_unstorable(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key, where)
            _check_strings(item, key if where == "body" else f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, where)


def check_request_text():
    """Refuses, in one place, text in the path, the query string or `Last-Event-ID`
    that cannot be stored: invalid UTF-8, NUL, lone surrogates (400 naming the part)."""
    environ = request.environ
    try:
        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        unquote_to_bytes(environ.get("QUERY_STRING", "")).decode("utf-8")
    except (UnicodeError, ValueError):
        raise bad_request("The path or query string is not valid UTF-8") from None
    _refuse_unstorable(request.path, "path")
    for name, value in request.args.items(multi=True):
        _refuse_unstorable(name, name)
        _refuse_unstorable(value, name)
    _refuse_unstorable(request.headers.get("Last-Event-ID", ""), "Last-Event-ID")


def json_body():
    """The request body as a JSON object, or a 400 (413 when too large)."""
    _check_body_size()
    if not request.is_json:
        raise APIError(400, "invalid_json", "Content-Type must be application/json")
    try:
        request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The request body is not valid UTF-8") from None
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser can follow: not a 500
        data = None
    if data is None:
        raise APIError(400, "invalid_json", "The request body is not valid JSON")
    if not isinstance(data, dict):
        raise APIError(400, "invalid_json", "The request body must be a JSON object")
    _check_strings(data, "body")
    return data


def string_field(body, name, required=True):
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise bad_request(f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string")
    return value


def uuid_field(body, name, required=True):
    value = string_field(body, name, required)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad_request(f"'{name}' must be a UUID") from None


def time_field(body, name):
    """An optional RFC 3339 timestamp, returned in UTC."""
    value = string_field(body, name, required=False)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(f"'{name}' must be an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise bad_request(f"'{name}' must carry a time zone (e.g. a Z suffix)")
    return parsed.astimezone(timezone.utc)


def user_name(body):
    name = string_field(body, "name")
    if not USER_NAME.fullmatch(name):
        raise APIError(400, "invalid_name",
                       "A name is 1 to 32 characters of letters, digits, '_', '.' and '-'")
    return name


def room_name(body):
    name = string_field(body, "name").strip()
    if not 1 <= len(name) <= 64:
        raise APIError(400, "invalid_name", "A room name is 1 to 64 characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise APIError(400, "invalid_name", "A room name cannot contain control characters")
    if any(unicodedata.category(ch) == "Cf" for ch in name):
        # Zero-width and bidirectional-override characters make look-alike names.
        raise APIError(400, "invalid_name", "A room name cannot contain format characters "
                       "(zero-width spaces, bidirectional overrides)")
    return unicodedata.normalize("NFC", name)


def message_text(body):
    """A message's text (posting and editing): 1 to CHAT_MAX_MESSAGE_LENGTH code points
    after trimming; stored exactly as sent."""
    text = string_field(body, "message")
    stripped = text.strip()
    if not stripped:
        raise APIError(400, "empty_message", "The message is empty")
    limit = current_app.config["CHAT_MAX_MESSAGE_LENGTH"]
    if len(stripped) > limit:
        raise APIError(400, "message_too_long", f"A message is at most {limit} characters")
    return text


EMOJI_NAME = re.compile(r":[A-Za-z0-9_+-]{1,30}:")
# Besides pictographs (So) and skin tones (Sk), an emoji sequence may hold a joiner,
# variation selectors, the keycap mark and its bases, and tag characters (flags).
_EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3" "0123456789#*")


def _emoji_part(ch):
    return (unicodedata.category(ch) in ("So", "Sk") or ch in _EMOJI_JOINERS
            or 0xE0020 <= ord(ch) <= 0xE007F)


def emoji(value):
    """A reaction's emoji: a `:name:`, or 1 to 32 code points of one Unicode emoji
    (sequence), never letters, whitespace or control characters."""
    if EMOJI_NAME.fullmatch(value):
        return value
    if (1 <= len(value) <= 32
            and any(unicodedata.category(ch) == "So" or ch == "\u20e3" for ch in value)
            and all(_emoji_part(ch) for ch in value)):
        return value
    raise APIError(400, "validation_error",
                   "'emoji' must be a Unicode emoji or a :name: (1 to 32 characters)")


def password(body):
    value = string_field(body, "password")
    if not 8 <= len(value) <= 128:
        raise APIError(400, "invalid_password", "A password is 8 to 128 characters")
    return value


def int_arg(name, default, maximum):
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be a positive integer") from None
    if value < 1:
        raise bad_request(f"'{name}' must be a positive integer")
    return min(value, maximum)


def uuid_arg(name, code="validation_error"):
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise APIError(400, code, f"'{name}' must be a message id") from None
