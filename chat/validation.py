"""Request parsing below the models: JSON bodies, text no column can hold, path ids and
emoji. Every failure is a 400 with a code. The fields of bodies and query strings are
declared, and checked, by the models of chat/schemas.py."""

import re
import unicodedata
import uuid
from urllib.parse import unquote_to_bytes

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from chat.errors import APIError, bad_request

# What no database column can hold: NUL, and lone surrogates (JSON can escape them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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


EMOJI_NAME = re.compile(r":[A-Za-z0-9_+-]{1,30}:")
# Besides pictographs (So) and skin tones (Sk), an emoji sequence may hold a joiner,
# variation selectors, the keycap mark and its bases, and tag characters (flags).
_EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3" "0123456789#*")


def emoji_part(ch):
    return (unicodedata.category(ch) in ("So", "Sk") or ch in _EMOJI_JOINERS
            or 0xE0020 <= ord(ch) <= 0xE007F)


def emoji_symbol(ch):
    return unicodedata.category(ch) == "So" or ch == "\u20e3"


def emoji(value):
    """A reaction's emoji: a `:name:`, or 1 to 32 code points of one Unicode emoji
    (sequence), never letters, whitespace or control characters."""
    if EMOJI_NAME.fullmatch(value):
        return value
    if (1 <= len(value) <= 32
            and any(emoji_symbol(ch) for ch in value)
            and all(emoji_part(ch) for ch in value)):
        return value
    raise APIError(400, "validation_error",
                   "'emoji' must be a Unicode emoji or a :name: (1 to 32 characters)")
