"""Every request and response shape of the HTTP API, declared once as pydantic models.

The same declarations drive three things:

- **validation**: `parse_body(Model, body)` / `parse_query(Model)` turn a decoded JSON body
  or the query string into a model instance, or raise the 400 API.md gives for the first
  bad field (`invalid_name`, `invalid_password`, `empty_message`, `message_too_long`,
  `invalid_cursor`, else `validation_error` naming the field). The rules themselves are the
  field validators below; each raises a `PydanticCustomError` whose type *is* the API
  error code, so the mapping is one line (`_api_error`).
- **the OpenAPI document** (`chat/api/openapi.py`): every model's JSON Schema, plus the
  routes that name them in their `@operation(...)` declaration;
- **the tests**, which check real responses against the document's response schemas.

Responses are still built by the models' `to_dict()` (chat/models.py, chat/message_view.py):
the response models here describe them and the tests hold the two together. Nothing on the
SSE delivery path touches pydantic. Models and their validators are built once, at import;
parsing a typical message post costs a few microseconds.
"""

import functools
import re
import unicodedata
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from flask import current_app, has_app_context, request
from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, ValidationError,
                      ValidationInfo, WithJsonSchema)
from pydantic_core import PydanticCustomError

from chat.errors import APIError

# --------------------------------------------------------------------------- constants

# Every `error.code` API.md lists, in its order.
ERROR_CODES = [
    "invalid_json", "validation_error", "invalid_name", "invalid_password",
    "empty_message", "message_too_long", "invalid_cursor", "unauthenticated",
    "invalid_credentials", "forbidden", "banned", "not_member", "not_found",
    "method_not_allowed", "name_taken", "conflict", "payload_too_large", "rate_limited",
    "overloaded", "internal_error", "request_timeout",
]
_CODES = frozenset(ERROR_CODES)

DEFAULT_MAX_MESSAGE_LENGTH = 4000  # CHAT_MAX_MESSAGE_LENGTH's default (chat/config.py)
USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # always fullmatch: "$" accepts "x\n"

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# RFC 3339 in UTC with a `Z` suffix, fractional seconds optional (API.md shows both).
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"


def _nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


UUID_SCHEMA = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
TIMESTAMP_SCHEMA = {"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}


def _fail(code: str, message: str):
    # The message goes in as context: user text with braces is never a template.
    raise PydanticCustomError(code, "{message}", {"message": message})


# ----------------------------------------------------- character classes for the document
# Some rules are about Unicode categories, which JSON Schema patterns cannot name: the
# document spells them out as character classes, built from this Python's Unicode
# database (the one the validators use) when the document is first built.

def _char(cp: int) -> str:
    if cp < 0x80:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp <= 0xFFFF else chr(cp)


def _ranges(cps: list[int]) -> str:
    parts, start, last = [], None, None
    for cp in [*cps, None]:
        if start is not None and (cp is None or cp != last + 1):
            parts.append(_char(start) if start == last else f"{_char(start)}-{_char(last)}")
            start = None
        if cp is not None and start is None:
            start = cp
        last = cp
    return "".join(parts)


# Planes 4-13, 15 and 16 hold private use and nothing else these rules name, planes 2
# and 3 only letters (ideographs) (tests/unit/test_openapi_models.py checks it).
SYMBOL_PLANES = (0, 1, 14)
WORD_PLANES = (0, 1, 2, 3)


@functools.cache
def _unicode_classes() -> dict[str, str]:
    from chat.search import _WORD  # the search's own definition of a word character
    from chat.validation import emoji_part, emoji_symbol
    part, symbol, refused, space, word = [], [], [], [], []
    for cp in (cp for plane in sorted({*SYMBOL_PLANES, *WORD_PLANES})
               for cp in range(plane << 16, (plane + 1) << 16)):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if _WORD.match(ch):
            word.append(cp)
        category = unicodedata.category(ch)
        if emoji_part(ch):
            part.append(cp)
        if emoji_symbol(ch):
            symbol.append(cp)
        if category in _REFUSED_IN_ROOM_NAMES:
            refused.append(cp)
        elif ch.isspace():
            space.append(cp)
    return {"emoji_part": _ranges(part), "emoji_symbol": _ranges(symbol),
            "room_refused": _ranges(refused), "room_space": _ranges(space),
            "word": _ranges(word)}


_REFUSED_IN_ROOM_NAMES = ("Cc", "Zl", "Zp", "Cf")


# What str.strip() takes away (all of it is in the BMP): a message needs one other character.
_STRIPPED = _ranges([cp for cp in range(0x10000) if chr(cp).isspace()])
_NOT_ONLY_SPACE = f"[^{_STRIPPED}]"


class _LazySchema:
    """Annotated metadata: the field's JSON Schema, made by `factory` when a document is
    built (never at import, never while validating)."""

    def __init__(self, factory):
        self.factory = factory

    def __get_pydantic_json_schema__(self, core_schema, handler):
        return self.factory()


def emoji_schema() -> dict:
    """The reaction path value: exactly chat.validation.emoji's rule (a `:name:`, or 1–32
    code points of symbols, skin tones, joiners, keycaps and tags holding a symbol)."""
    classes = _unicode_classes()
    part, symbol = f"[{classes['emoji_part']}]", f"[{classes['emoji_symbol']}]"
    return {"type": "string", "minLength": 1, "maxLength": 32,
            "pattern": f"^(:[A-Za-z0-9_+-]{{1,30}}:|{part}*{symbol}{part}*)$"}


def _search_words_schema() -> dict:
    # Not `\w`: in a JSON Schema (ECMA-262) pattern it means ASCII only.
    return {"type": "string", "minLength": 1, "pattern": f"[{_unicode_classes()['word']}]",
            "description": f"The words to find (at most {MAX_SEARCH_WORDS} different ones): "
                           "runs of letters and digits of any script; without one, a 400."}


def _room_name_schema() -> dict:
    classes = _unicode_classes()
    allowed = f"[^{classes['room_refused']}]"
    visible = f"[^{classes['room_refused']}{classes['room_space']}]"
    return {"type": "string", "minLength": 1, "maxLength": 64,
            "pattern": f"^{allowed}*{visible}{allowed}*$",
            "description": "1–64 characters after trimming, no control or format "
                           "characters (zero-width spaces, bidirectional overrides); "
                           "stored NFC-normalized; unique case-insensitively among live "
                           "rooms."}


# ----------------------------------------------------------------- field validators (in)

def _present(value, info: ValidationInfo):
    if value is None:
        _fail("validation_error", f"'{info.field_name}' is required")
    return value


def _string(value, info: ValidationInfo):
    _present(value, info)
    if not isinstance(value, str):
        _fail("validation_error", f"'{info.field_name}' must be a string")
    return value


def _optional_string(value, info: ValidationInfo):
    return None if value is None else _string(value, info)


def _uuid_value(value, info: ValidationInfo):
    value = _string(value, info)
    try:
        return uuid.UUID(value)
    except ValueError:
        _fail("validation_error", f"'{info.field_name}' must be a UUID")


def _optional_uuid(value, info: ValidationInfo):
    return None if value is None else _uuid_value(value, info)


def _optional_timestamp(value, info: ValidationInfo):
    """An optional RFC 3339 timestamp, returned in UTC."""
    if value is None:
        return None
    name = info.field_name
    value = _string(value, info)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        _fail("validation_error", f"'{name}' must be an RFC 3339 timestamp")
    if parsed.tzinfo is None:
        _fail("validation_error", f"'{name}' must carry a time zone (e.g. a Z suffix)")
    return parsed.astimezone(timezone.utc)


def _user_name(value, info: ValidationInfo):
    if not USER_NAME.fullmatch(_string(value, info)):
        _fail("invalid_name",
              "A name is 1 to 32 characters of letters, digits, '_', '.' and '-'")
    return value


def _password(value, info: ValidationInfo):
    if not 8 <= len(_string(value, info)) <= 128:
        _fail("invalid_password", "A password is 8 to 128 characters")
    return value


def _room_name(value, info: ValidationInfo):
    name = _string(value, info).strip()
    if not 1 <= len(name) <= 64:
        _fail("invalid_name", "A room name is 1 to 64 characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        _fail("invalid_name", "A room name cannot contain control characters")
    if any(unicodedata.category(ch) == "Cf" for ch in name):
        # Zero-width and bidirectional-override characters make look-alike names.
        _fail("invalid_name", "A room name cannot contain format characters "
              "(zero-width spaces, bidirectional overrides)")
    return unicodedata.normalize("NFC", name)


def _room_kind(value, info: ValidationInfo):
    kind = _optional_string(value, info) or "public"
    if kind not in ("public", "private"):
        _fail("validation_error", "'kind' must be 'public' or 'private'")
    return kind


def max_message_length() -> int:
    """CHAT_MAX_MESSAGE_LENGTH of the app serving the request (read at request time)."""
    if has_app_context():
        return current_app.config["CHAT_MAX_MESSAGE_LENGTH"]
    return DEFAULT_MAX_MESSAGE_LENGTH


def _message_text(value, info: ValidationInfo):
    """A message's text (posting and editing): 1 to CHAT_MAX_MESSAGE_LENGTH code points
    after trimming; stored exactly as sent."""
    stripped = _string(value, info).strip()
    if not stripped:
        _fail("empty_message", "The message is empty")
    limit = max_message_length()
    if len(stripped) > limit:
        _fail("message_too_long", f"A message is at most {limit} characters")
    return value


def _reason(value, info: ValidationInfo):
    if len(_string(value, info)) > 1000:
        _fail("validation_error", "'reason' is at most 1000 characters")
    return value


# ------------------------------------------------------------- query validators (in)

def _page_limit(default: int, maximum: int):
    def validate(raw, info: ValidationInfo):
        if raw is None:
            return default
        name = info.field_name
        try:
            value = int(raw)
        except ValueError:
            _fail("validation_error", f"'{name}' must be a positive integer")
        if value < 1:
            _fail("validation_error", f"'{name}' must be a positive integer")
        return min(value, maximum)
    return validate


def _cursor(raw, info: ValidationInfo):
    if raw is None:
        return None
    # History takes one cursor; the rule is checked where `before` is (after `limit`).
    exclusive = (info.context or {}).get("exclusive_cursors")
    if exclusive and info.field_name == "before" and "after" in info.context["raw"]:
        _fail("validation_error", "Use 'before' or 'after', not both")
    try:
        return uuid.UUID(raw)
    except ValueError:
        _fail("invalid_cursor", f"'{info.field_name}' must be a message id")


def _query_uuid(raw, info: ValidationInfo):
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        _fail("validation_error", f"'{info.field_name}' must be a room id")


def _required_query(raw, info: ValidationInfo):
    if not raw:
        _fail("validation_error", f"The '{info.field_name}' query parameter is required")
    return raw


def _search_words(raw, info: ValidationInfo):
    from chat.search import query_words  # keeps this module clear of the database layer
    words = query_words(raw)
    if not words:
        _fail("validation_error", "'q' must hold at least one word (letters or digits)")
    if len(words) > MAX_SEARCH_WORDS:  # each word costs index lookups (one per room, even)
        _fail("validation_error", f"'q' may hold at most {MAX_SEARCH_WORDS} different words")
    return words


MAX_SEARCH_WORDS = 32


def _in(validator, schema: dict, description: str | None = None):
    """A request field: `validator` is the rule, `schema` what the document says of it."""
    if description:
        schema = {**schema, "description": description}
    return (PlainValidator(validator), WithJsonSchema(schema))


def _out(schema: dict, description: str | None = None):
    """A response field: the document's schema (responses are built by chat/models.py)."""
    if description:
        schema = {**schema, "description": description}
    return WithJsonSchema(schema)


# ---------------------------------------------------------------------- request bodies
# Unknown extra fields in a body are ignored (API.md), so no request model is closed.

class RequestModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UserCreate(RequestModel):
    name: Annotated[str, *_in(_user_name, {
        "type": "string", "minLength": 1, "maxLength": 32,
        "pattern": "^[A-Za-z0-9_.-]{1,32}$"}, "Unique case-insensitively.")]
    password: Annotated[str, *_in(_password, {"type": "string", "minLength": 8,
                                              "maxLength": 128})]
    api_user: Annotated[uuid.UUID | None, *_in(_optional_uuid, _nullable(UUID_SCHEMA),
                                               "Optional id in an outside identity "
                                               "system.")] = None


class SessionCreate(RequestModel):
    name: Annotated[str, *_in(_string, {"type": "string"})]
    password: Annotated[str, *_in(_string, {"type": "string"})]


class RoomCreate(RequestModel):
    name: Annotated[str, PlainValidator(_room_name), _LazySchema(_room_name_schema)]
    kind: Annotated[str, *_in(_room_kind, {"type": ["string", "null"],
                                           "enum": ["public", "private", "", None],
                                           "default": "public"},
                              "Empty or null: `public`.")] = "public"


class MembershipCreate(RequestModel):
    chat_user: Annotated[uuid.UUID, *_in(_uuid_value, UUID_SCHEMA,
                                         "The user who joins (must be the caller).")]


class InvitationCreate(RequestModel):
    user: Annotated[uuid.UUID, *_in(_uuid_value, UUID_SCHEMA, "The invitee.")]


class BanTerms(RequestModel):
    """What a ban says, room or account ban alike (`AccountBanCreate` in the document)."""
    reason: Annotated[str, *_in(_reason, {"type": "string", "maxLength": 1000})]
    valid_until: Annotated[datetime | None, *_in(
        _optional_timestamp, _nullable(TIMESTAMP_SCHEMA),
        "Omitted or null: no end. Otherwise in the future, with a time zone.")] = None


class BanTarget(RequestModel):
    user: Annotated[uuid.UUID, *_in(_uuid_value, UUID_SCHEMA, "The user to ban.")]


class RoomBanCreate(BanTarget, BanTerms):
    """The body of POST /rooms/{id}/bans (validated in two steps: `user` before the
    permission check, the terms after it, as the route always has)."""


class MessageCreate(RequestModel):
    message: Annotated[str, *_in(_message_text, {
        "type": "string", "minLength": 1, "maxLength": DEFAULT_MAX_MESSAGE_LENGTH,
        "pattern": _NOT_ONLY_SPACE},
        f"1–{DEFAULT_MAX_MESSAGE_LENGTH} Unicode code points after trimming "
        "(CHAT_MAX_MESSAGE_LENGTH, read when the request is served; the limits shown are "
        "its default); stored exactly as sent.")]
    id: Annotated[uuid.UUID | None, *_in(
        _optional_uuid, _nullable(UUID_SCHEMA),
        "Client-generated id; makes the post idempotent. Null is the same as leaving it "
        "out.")] = None
    user: Annotated[uuid.UUID | None, *_in(
        _optional_uuid, _nullable(UUID_SCHEMA),
        "If given, must be the caller. Null is the same as leaving it out.")] = None
    reply_to: Annotated[uuid.UUID | None, *_in(
        _optional_uuid, _nullable(UUID_SCHEMA),
        "A message of the same room this one answers.")] = None


class MessageEdit(RequestModel):
    message: Annotated[str, *_in(_message_text, {
        "type": "string", "minLength": 1, "maxLength": DEFAULT_MAX_MESSAGE_LENGTH,
        "pattern": _NOT_ONLY_SPACE}, "The new text; the same rules as posting.")]


class ReadMarkerUpdate(RequestModel):
    message: Annotated[uuid.UUID, *_in(_uuid_value, UUID_SCHEMA, "A message of this room.")]


# ------------------------------------------------------------------------ query strings

class RequiredQuery(RequestModel):
    """A query whose named parameters are required: missing, they reach their validator
    (as None) so that it words the refusal."""
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)


class FindUserQuery(RequiredQuery):
    model_config = ConfigDict(json_schema_extra={"required": ["name"]})
    name: Annotated[str, *_in(_required_query, {"type": "string", "minLength": 1},
                              "The user name to look for.")] = None


HISTORY_PAGE, HISTORY_MAX = 50, 200
SEARCH_PAGE, SEARCH_MAX = 20, 50


class HistoryQuery(RequestModel):
    limit: Annotated[int, *_in(_page_limit(HISTORY_PAGE, HISTORY_MAX),
                               {"type": "integer", "minimum": 1, "default": HISTORY_PAGE},
                               f"How many (default {HISTORY_PAGE}; larger values are capped "
                               f"at {HISTORY_MAX}; non-numbers or < 1 are a 400).")] = HISTORY_PAGE
    before: Annotated[uuid.UUID | None, *_in(_cursor, UUID_SCHEMA,
                                             "A message id of this room (not with "
                                             "`after`).")] = None
    after: Annotated[uuid.UUID | None, *_in(_cursor, UUID_SCHEMA,
                                            "A message id of this room (not with "
                                            "`before`).")] = None


class SearchQuery(RequiredQuery):
    model_config = ConfigDict(json_schema_extra={"required": ["q"]})
    q: Annotated[list[str], PlainValidator(_search_words),
                 _LazySchema(_search_words_schema)] = None
    limit: Annotated[int, *_in(_page_limit(SEARCH_PAGE, SEARCH_MAX),
                               {"type": "integer", "minimum": 1, "default": SEARCH_PAGE},
                               f"How many (default {SEARCH_PAGE}; larger values are capped "
                               f"at {SEARCH_MAX}; non-numbers or < 1 are a 400).")] = SEARCH_PAGE
    room: Annotated[uuid.UUID | None, *_in(_query_uuid, UUID_SCHEMA,
                                           "Search only this room.")] = None
    before: Annotated[uuid.UUID | None, *_in(
        _cursor, UUID_SCHEMA, "The id of a message of the rooms searched, e.g. the last one "
        "of the previous page: only older messages.")] = None


# ------------------------------------------------------------------------------ parsing

def _api_error(error: ValidationError) -> APIError:
    """The first failing field, in declaration order, as API.md's 400."""
    first = error.errors(include_url=False)[0]
    name = first["loc"][0] if first["loc"] else "body"
    if first["type"] in _CODES:
        return APIError(400, first["type"], first["msg"])
    if first["type"] == "missing":
        return APIError(400, "validation_error", f"'{name}' is required")
    return APIError(400, "validation_error", f"'{name}': {first['msg']}")


def parse_body(model: type[RequestModel], body: dict, **context: Any):
    """`body` (a decoded JSON object, see chat.validation.json_body) as `model`."""
    try:
        return model.model_validate(body, context={"raw": body, **context})
    except ValidationError as error:
        raise _api_error(error) from None


def parse_query(model: type[RequestModel], **context: Any):
    """The query string as `model` (the first value of each name, as request.args.get)."""
    raw = request.args.to_dict()
    try:
        return model.model_validate(raw, context={"raw": raw, **context})
    except ValidationError as error:
        raise _api_error(error) from None


# -------------------------------------------------------------------------- responses
# What the server answers; the document's response schemas. Only Message and Reaction are
# closed (API.md: exactly these fields); the others may grow.

Id = Annotated[str, _out(UUID_SCHEMA)]
Timestamp = Annotated[str, _out(TIMESTAMP_SCHEMA)]


def _nullable_id(description: str):
    return Annotated[str | None, _out(_nullable(UUID_SCHEMA), description)]


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def _optional(description: str):
    """A response field that only some answers carry (not required, never null)."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(ResponseModel):
    """A user account."""
    id: Id
    name: Annotated[str, Field(description="1–32 chars of [A-Za-z0-9_.-].")]
    api_user: _nullable_id("The account's id in an outside identity system.")
    created_at: Timestamp
    online: bool = _optional("Present where users are listed as room members.")


class UserWithPresence(User):
    """A room member: a User that always carries `online`."""
    online: bool


class Room(ResponseModel):
    """A room."""
    id: Id
    name: str
    kind: Literal["public", "private", "direct"]
    owner: _nullable_id("The owner's user id; null for rooms without one.")
    created_at: Timestamp
    unread_count: Annotated[int, Field(ge=0)] = _optional(
        "Messages after `last_read` by other users (only in GET /users/{id}/rooms).")
    last_read: _nullable_id("The caller's read marker: a message id, or null (only in "
                            "GET /users/{id}/rooms).") = _optional(
        "The caller's read marker (only in GET /users/{id}/rooms).")
    mention_count: Annotated[int, Field(ge=0)] = _optional(
        "Unread messages that mention the caller (only in GET /users/{id}/rooms).")
    peer: User | None = _optional("Direct rooms only: the other member (null if that "
                                  "account is gone).")


class RoomWithUnread(Room):
    """A Room as listed by GET /users/{id}/rooms."""
    unread_count: Annotated[int, Field(ge=0)]
    last_read: _nullable_id("The caller's read marker: a message id, or null.")
    mention_count: Annotated[int, Field(ge=0)]


class DirectRoom(Room):
    """The `direct` room between two users."""
    kind: Literal["direct"]
    peer: User | None = Field(description="The other member (null if that account is "
                                          "gone).")


class Reaction(BaseModel):
    """One emoji on a message and who put it there."""
    model_config = ConfigDict(extra="forbid")
    emoji: Annotated[str, Field(min_length=1)]
    count: Annotated[int, Field(ge=1)]
    users: Annotated[list[Id], Field(description="Who reacted with this emoji.")]


class Message(BaseModel):
    """A chat message: exactly these nine fields (API.md 1.1)."""
    model_config = ConfigDict(extra="forbid")
    id: Id
    user: Annotated[str, _out(UUID_SCHEMA, "The author's user id.")]
    room: Id
    message: Annotated[str, Field(min_length=1, description="The text exactly as sent.")]
    created_at: Timestamp
    reply_to: _nullable_id("The message of the same room this one answers.")
    edited_at: Annotated[str | None, _out(_nullable(TIMESTAMP_SCHEMA),
                                          "When the text was last edited.")]
    mentions: Annotated[list[Id], Field(description="Members the text names with @name, "
                                                    "in text order.")]
    reactions: Annotated[list[Reaction], Field(description="In the order each emoji was "
                                                           "first used.")]


class Invitation(ResponseModel):
    """An invitation to a room."""
    id: Id
    room: Id
    user: Annotated[str, _out(UUID_SCHEMA, "The invitee.")]
    invited_by: _nullable_id("The inviting user (null if that account is gone).")
    created_at: Timestamp


class Ban(ResponseModel):
    """A ban from one room, or from the whole server when `room` is null."""
    room: _nullable_id("The room; null for a global (account) ban.")
    user: Annotated[str, _out(UUID_SCHEMA, "The banned user.")]
    reason: str
    valid_until: Annotated[str | None, _out(_nullable(TIMESTAMP_SCHEMA),
                                            "End of the ban; null for a ban without end.")]
    created_at: Timestamp


class RoomBan(Ban):
    """A ban from one room."""
    room: Id


class AccountBan(Ban):
    """A global ban (room is null)."""
    room: None


class Session(ResponseModel):
    """A signed-in session."""
    token: Annotated[str, Field(min_length=1, description="Bearer token; shown only here.")]
    expires_at: Timestamp
    user: User


ErrorCode = Enum("ErrorCode", {code: code for code in ERROR_CODES}, type=str)
ErrorCode.__doc__ = "Stable snake_case identifier."


class ErrorBody(ResponseModel):
    code: ErrorCode
    message: str


class Error(ResponseModel):
    """Every error response, including the framework's 404/405/413."""
    error: ErrorBody


class Health(ResponseModel):
    """Service health; each part is "ok" when healthy."""
    status: Annotated[str, Field(examples=["ok"])]
    database: Annotated[str, Field(examples=["ok"])]
    bus: Annotated[str, Field(examples=["ok"])]
    processor: Annotated[str, Field(examples=["ok", "stalled"])]


class HealthOk(Health):
    """Healthy: every part "ok"."""
    status: Literal["ok"]
    database: Literal["ok"]
    bus: Literal["ok"]
    processor: Literal["ok"]


# ----- payloads of named stream events (documented; the stream encodes them itself)

class ReadyEvent(ResponseModel):
    """`event: ready`: the stream is registered."""
    user: Id
    rooms: list[Id]


class PresenceEvent(ResponseModel):
    user: Id
    status: Literal["online", "offline"]


class MembershipEvent(ResponseModel):
    room: Id
    user: Id
    action: Literal["joined", "left", "kicked", "banned"]


class RoomEvent(ResponseModel):
    room: Id
    action: Literal["deleted", "created"]
    info: Room = _optional("With `created`: the new public room.")


class ReadEvent(ResponseModel):
    room: Id
    message: Id


class ResetEvent(ResponseModel):
    reason: str


class DeleteEvent(ResponseModel):
    room: Id
    message: Id


class ReactionEvent(ResponseModel):
    room: Id
    message: Id
    emoji: str
    user: Id
    action: Literal["added", "removed"]


class TypingEvent(ResponseModel):
    room: Id
    user: Id


SSE_EVENTS = {
    "message": Message, "ready": ReadyEvent, "presence": PresenceEvent,
    "membership": MembershipEvent, "room": RoomEvent, "invitation": Invitation,
    "read": ReadEvent, "reset": ResetEvent, "edit": Message, "delete": DeleteEvent,
    "reaction": ReactionEvent, "typing": TypingEvent,
}

# Every model the document carries under components/schemas, by name.
COMPONENTS = [
    User, UserWithPresence, Room, RoomWithUnread, DirectRoom, Message, Reaction, Invitation,
    Ban, RoomBan, AccountBan, Session, Error, Health, HealthOk,
    UserCreate, SessionCreate, RoomCreate, MembershipCreate, InvitationCreate,
    RoomBanCreate, BanTerms, MessageCreate, MessageEdit, ReadMarkerUpdate,
    ReadyEvent, PresenceEvent, MembershipEvent, RoomEvent, ReadEvent, ResetEvent,
    DeleteEvent, ReactionEvent, TypingEvent,
]
