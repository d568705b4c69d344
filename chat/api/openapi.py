"""The OpenAPI 3.1 document, generated from the registered routes and chat/schemas.py.

Each view declares its operation next to its route with `@operation(...)`: the models of
its body, query and answers, and the error statuses particular to it. `build_spec(app)`
walks `app.url_map` — every rule under /v1/chats is an operation, so a new route cannot be
missing from the document (one without a declaration makes `build_spec` fail, and the
tests with it) — and takes the schemas from the pydantic models. Paths are written without
the `/v1/chats` prefix, which lives in `servers`.

Conventions that keep the document honest and easy to check against real responses:

- The error statuses every operation of a kind has are added in one pass
  (`_error_responses`): 400 wherever there is a path id, a query parameter or a body;
  401 on every authenticated operation; 403 on every authenticated state-changing one (the
  cross-site cookie check); 413 wherever there is a body; 503 `overloaded` with Retry-After
  wherever the database is used; and a `default` response, because *every* error is the
  JSON Error shape.
- Each error response narrows `error.code` to the codes API.md uses with that status, so a
  contract test catches a 403 answered with `not_found`.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic.json_schema import models_json_schema

from chat import schemas

BASE_PATH = "/v1/chats"
JSON = "application/json"
_REF = "#/components/schemas/{model}"
_METHODS = ("get", "put", "post", "delete", "patch")
_STATE_CHANGING = frozenset({"post", "put", "patch", "delete"})

# Which codes go with which status, as API.md uses them. Operations narrow further where
# API.md is explicit (sign-in's 401/403, the name_taken 409s).
CODES_BY_STATUS = {
    "400": ["invalid_json", "validation_error", "invalid_name", "invalid_password",
            "empty_message", "message_too_long", "invalid_cursor"],
    "401": ["unauthenticated"],
    "403": ["forbidden", "banned", "not_member"],
    "404": ["not_found"],
    "405": ["method_not_allowed"],
    "409": ["name_taken", "conflict"],
    "413": ["payload_too_large"],
    "429": ["rate_limited"],
    "503": ["overloaded"],
}

RETRY_AFTER = {"$ref": "#/components/headers/RetryAfter"}
LOCATION = {"Location": {"description": "URL of the new resource.", "required": True,
                         "schema": {"type": "string", "format": "uri-reference"}}}

# Rule arguments as the document (and API.md) names them: the first id of a path is
# `{id}`, a message id `{mid}`, a second user id `{user}`.
_PARAM_DESCRIPTIONS = {"room_id": "Room id.", "user_id": "User id.",
                       "message_id": "Message id.", "invitation_id": "Invitation id.",
                       "emoji": "URL-encoded: a Unicode emoji or a `:name:`, 1–32 code "
                                "points, no whitespace or control characters."}
# Path values that are not ids: their schema (built on first use).
_PATH_VALUES = {"emoji": schemas.emoji_schema}


def _ANY_SEGMENT():
    return {"type": "string", "minLength": 1}


_RULE_ARG = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass
class Operation:
    """One route's part of the document (see `operation`)."""
    operation_id: str
    tag: str
    summary: str
    description: str | None = None
    body: type | None = None
    query: type | None = None
    ok: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    database: bool = True
    path_names: dict | None = None
    extra_parameters: list | None = None
    links: dict | None = None


def operation(operation_id, tag, summary, **details):
    """Declares the view's operation for the document. `ok` maps a success status to a
    response: a model, a list of one model (an array), `(model, description[, headers])`,
    None (no body) or a response object. `errors` maps an error status to a description
    or `(description, codes[, headers])`; `body` and `query` are chat/schemas.py models.
    `links` maps a success status to OpenAPI links: {name: (operationId, parameters[,
    requestBody])}, values being runtime expressions such as "$response.body#/id"."""
    declared = Operation(operation_id, tag, summary, **details)

    def mark(view):
        view.openapi_operation = declared
        return view
    return mark


def _ref(name: str) -> dict:
    return {"$ref": _REF.format(model=name)}


def _schema_of(target) -> dict:
    if isinstance(target, list):
        (item,) = target
        return {"type": "array", "items": _schema_of(item)}
    if isinstance(target, dict):
        return target
    return _ref(target.__name__)


def _json_response(description: str, schema: dict, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {"description": description,
                                "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _ok_response(spec) -> dict:
    if spec is None:
        return {"description": "Done."}
    if isinstance(spec, tuple):
        target, description, *rest = spec
        headers = rest[0] if rest else None
        if target is None:
            return {"description": description, **({"headers": headers} if headers else {})}
        return _json_response(description, _schema_of(target), headers)
    if isinstance(spec, dict) and "description" in spec:
        return spec
    return _json_response((getattr(spec, "__doc__", None) or "The answer.").strip()
                          if not isinstance(spec, list) else "The list.", _schema_of(spec))


def _error_response(status: str, description: str, codes: list | None,
                    headers: dict | None, error_schemas: dict) -> dict:
    """An Error response whose `error.code` is one of `codes` (by default the codes API.md
    uses with `status`). The narrowed schema goes to components as `Error<status>` (the
    status's own codes) or `Error_<code>` (one code)."""
    codes = list(codes or CODES_BY_STATUS.get(status, schemas.ERROR_CODES))
    if codes == schemas.ERROR_CODES:
        name = "Error"
    elif codes == CODES_BY_STATUS.get(status):
        name = f"Error{status}"
    elif len(codes) == 1:
        name = f"Error_{codes[0]}"
    else:
        name = "Error_" + "_or_".join(codes)
    if name != "Error":
        error_schemas[name] = {
            "description": "Error with `code` one of: " + ", ".join(codes) + ".",
            "allOf": [_ref("Error")],
            "properties": {"error": {"properties": {"code": {"enum": codes}}}},
        }
    response = _json_response(description, _ref(name), headers)
    if name != "Error":
        response["x-error-codes"] = codes
    return response


def _error_responses(method: str, op: dict, declared: Operation, has_path_params: bool,
                     error_schemas: dict) -> None:
    """The declared error statuses plus those every operation of its kind has."""
    errors: dict[str, Any] = {str(status): value for status, value in declared.errors.items()}
    authenticated = op.get("security") != []
    has_body = "requestBody" in op
    has_query = declared.query is not None

    def add(status, sentence, codes=None, headers=None, first=False):
        if status in errors:
            current = errors[status]
            if isinstance(current, str):
                current = (current,)
            text, old_codes, old_headers = (tuple(current) + (None, None))[:3]
            text = f"{sentence} {text}" if first else f"{text} {sentence}"
            errors[status] = (text, old_codes or codes, old_headers or headers)
        else:
            errors[status] = (sentence, codes, headers)

    if has_path_params or has_query or has_body:
        parts = []
        if has_path_params:
            parts.append("a path id is not a UUID (checked before anything else)")
        if has_body:
            parts.append("malformed JSON, a wrong content type, or a missing or wrongly "
                         "typed field")
        if has_query:
            parts.append("a missing or bad query parameter")
        add("400", "Bad request: " + "; ".join(parts) + ".", first=True)
    if authenticated:
        add("401", "Not signed in, or the token/cookie is invalid or expired.",
            ["unauthenticated"])
        if method in _STATE_CHANGING:
            add("403", "Cookie-authenticated request whose Origin names another site "
                       "(`forbidden`).")
    if has_body:
        add("413", "Request body larger than 64 KiB.", ["payload_too_large"])
    if declared.database:
        add("503", "When the database is unavailable: `overloaded`, retry after "
                   "Retry-After.", ["overloaded"], {"Retry-After": RETRY_AFTER})

    for status in sorted(errors):
        spec = errors[status]
        if isinstance(spec, str):
            spec = (spec,)
        description, codes, headers = (tuple(spec) + (None, None))[:3]
        op["responses"][status] = _error_response(status, description, codes, headers,
                                                  error_schemas)
    op["responses"] = dict(sorted(op["responses"].items()))
    op["responses"]["default"] = _error_response(
        "default", "Any other error (e.g. 405 method_not_allowed); always the Error shape.",
        list(schemas.ERROR_CODES), None, error_schemas)


def _query_parameters(model) -> list:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = {key: value for key, value in prop.items()
                if key != "title" and not (key == "default" and value is None)}
        description = prop.pop("description", None)
        params.append({"name": name, "in": "query", "required": name in required,
                       **({"description": description} if description else {}),
                       "schema": prop})
    return params


def document_path(rule: str, path_names: dict | None = None):
    """`/v1/chats/rooms/<uid:room_id>/users/<uid:user_id>` -> ("/rooms/{id}/users/{user}",
    [(argument, document name, converter), ...])."""
    args = []

    def name_of(match):
        argument, converter = match["name"], match["converter"] or "default"
        if path_names and argument in path_names:
            name = path_names[argument]
        elif argument == "message_id":
            name = "mid"
        elif not args:
            name = "id" if argument.endswith("_id") else argument
        else:
            name = argument.removesuffix("_id")
        args.append((argument, name, converter))
        return "{" + name + "}"

    path = _RULE_ARG.sub(name_of, rule)
    return path[len(BASE_PATH):] or "/", args


def _path_parameters(args) -> list:
    params = []
    for argument, name, converter in args:
        if converter == "uid":
            params.append({"name": name, "in": "path", "required": True,
                           "description": _PARAM_DESCRIPTIONS.get(argument, "An id.")
                           + " A non-UUID value is a 400.",
                           "schema": dict(schemas.UUID_SCHEMA)})
        else:
            params.append({"name": name, "in": "path", "required": True,
                           **({"description": _PARAM_DESCRIPTIONS[argument]}
                              if argument in _PARAM_DESCRIPTIONS else {}),
                           "schema": dict(_PATH_VALUES.get(argument, _ANY_SEGMENT)())})
    return params


def api_rules(app):
    """The rules under /v1/chats with their document methods, in registration order."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(BASE_PATH + "/"):
            methods = sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
            yield rule, methods


def _components() -> dict:
    _, top = models_json_schema([(model, "validation") for model in schemas.COMPONENTS],
                                ref_template=_REF)
    return top["$defs"]


def _check_links(paths: dict) -> None:
    ids = {op["operationId"] for item in paths.values() for method, op in item.items()
           if method in _METHODS}
    for item in paths.values():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            for response in op["responses"].values():
                for name, link in response.get("links", {}).items():
                    if link["operationId"] not in ids:
                        raise LookupError(f"link {name} of {op['operationId']} names an "
                                          f"unknown operation {link['operationId']}")


# Where a room's and a message's ids are in their answers (for `links`).
ROOM = {"id": "$response.body#/id"}
MESSAGE = {"id": "$response.body#/room", "mid": "$response.body#/id"}


def room_links() -> dict:
    """Links from an answer that is a Room to what can be done with that room."""
    return {name: (operation_id, ROOM) for name, operation_id in (
        ("Get", "getRoom"), ("Members", "listRoomUsers"), ("Post", "postMessage"),
        ("History", "listMessages"), ("Typing", "announceTyping"),
        ("Invite", "inviteToRoom"), ("Ban", "banFromRoom"), ("Bans", "listRoomBans"),
        ("Delete", "deleteRoom"))}


def build_spec(app) -> dict:
    """The OpenAPI 3.1 document of `app`'s routes, as a new plain dict."""
    components = _components()
    error_schemas: dict[str, dict] = {}
    paths: dict[str, dict] = {}
    for rule, methods in api_rules(app):
        view = app.view_functions[rule.endpoint]
        declared = getattr(view, "openapi_operation", None)
        if declared is None:
            raise LookupError(f"{rule.rule} ({rule.endpoint}) has no @operation declaration")
        path, args = document_path(rule.rule, declared.path_names)
        item = paths.setdefault(path, {})
        if args:
            item.setdefault("parameters", _path_parameters(args))
        for method in methods:
            if method in item:
                raise ValueError(f"{method.upper()} {path} is declared twice")
            op: dict[str, Any] = {"operationId": declared.operation_id,
                                  "tags": [declared.tag], "summary": declared.summary}
            if declared.description:
                op["description"] = declared.description
            params = list(declared.extra_parameters or [])
            if declared.query is not None:
                params += _query_parameters(declared.query)
            if params:
                op["parameters"] = params
            if declared.body is not None:
                op["requestBody"] = {"required": True, "content": {
                    JSON: {"schema": _ref(declared.body.__name__)}}}
            if getattr(view, "public", False):
                op["security"] = []
            op["responses"] = {str(status): _ok_response(spec)
                               for status, spec in declared.ok.items()}
            for status, links in (declared.links or {}).items():
                op["responses"][str(status)]["links"] = {
                    name: {"operationId": link[0], "parameters": link[1],
                           **({"requestBody": link[2]} if len(link) > 2 else {})}
                    for name, link in links.items()}
            _error_responses(method, op, declared, bool(args), error_schemas)
            item[method] = op
    components.update(sorted(error_schemas.items()))
    _check_links(paths)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Chat server API",
            "version": "1.1",
            "description": (
                "Rooms, direct messages, and a live Server-Sent Events stream. All bodies "
                "are JSON (UTF-8); unknown extra request fields are ignored. IDs are UUID "
                "strings; timestamps are RFC 3339 in UTC with a `Z` suffix. Every error "
                "is `{\"error\": {\"code\", \"message\"}}`. Generated from the server's "
                "routes and its pydantic models (chat/schemas.py)."),
        },
        "servers": [{"url": BASE_PATH}],
        "security": [{"bearer": []}, {"cookie": []}],
        "tags": [
            {"name": "users"}, {"name": "sessions"}, {"name": "rooms"},
            {"name": "memberships"}, {"name": "invitations"}, {"name": "bans"},
            {"name": "messages"}, {"name": "read markers"}, {"name": "events"},
            {"name": "operations"},
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": {
                "RetryAfter": {
                    "description": "Seconds to wait before trying again.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "`Authorization: Bearer <token>` from "
                                          "POST /sessions."},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "chat_session",
                           "description": "The session cookie set by POST /sessions. "
                                          "State-changing requests whose Origin names "
                                          "another site are refused with 403."},
            },
        },
    }
