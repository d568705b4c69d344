"""The OpenAPI document generated from the routes and chat/schemas.py
(chat/api/openapi.py): valid OpenAPI 3.1, complete (every registered route, every endpoint
of docs/api.md), and saying what the server does (statuses, error codes, schemas)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from flask import Blueprint
from openapi_spec_validator import validate

from chat import create_app
from chat.api.openapi import BASE_PATH, api_rules, build_spec, document_path
from chat.schemas import ERROR_CODES
from tests.support.openapi import documented_statuses, find_path_template, response_schema

# Pages outside /v1/chats (the document's only server), like the chat page at `/`.
PAGES = {("get", "/docs")}
PUBLIC = {("post", "/users"), ("post", "/sessions"), ("get", "/healthcheck"),
          ("get", "/openapi.json"), ("get", "/metrics")}
WITH_BODY = {("post", "/users"), ("post", "/sessions"), ("post", "/rooms"),
             ("post", "/rooms/{id}/users"), ("post", "/rooms/{id}/invitations"),
             ("post", "/rooms/{id}/bans"), ("post", "/users/{id}/ban"),
             ("post", "/rooms/{id}/messages"), ("put", "/rooms/{id}/read"),
             ("patch", "/rooms/{id}/messages/{mid}")}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

ROOT = Path(__file__).resolve().parents[2]
UUID_A = "8f102c70-8eba-4094-bd4d-7f70d71b21f2"
UUID_B = "f2d9a3c4-1b2c-4d5e-8f90-123456789abc"
TS = "2025-05-04T20:56:16.123456Z"


def _api_md() -> str:
    return (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def _endpoints_in_api_md(text: str) -> set[tuple[str, str]]:
    """`METHOD /path` in backticks; a bare `/segment` after ` · ` (as in
    "`POST /invitations/{id}/accept` · `/decline`") replaces the previous path's last
    segment with the same method. Query strings are dropped."""
    found = set()
    last = None
    for match in re.finditer(r"(·\s*)?`(?:(GET|POST|PUT|DELETE|PATCH) )?(/[^`\s]*)`", text):
        sep, method, path = match.groups()
        path = path.split("?", 1)[0]
        if method:
            last = (method.lower(), path)
        elif sep and last and path.count("/") == 1:
            last = (last[0], last[1].rsplit("/", 1)[0] + path)
        else:
            continue
        if last[1] != "/":
            found.add(last)
    return found


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method, path, item, op


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("openapi") / "x.sqlite"
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})


@pytest.fixture(scope="module")
def spec(app):
    return build_spec(app)


def _valid(schema, instance) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


# ----------------------------------------------------------------------- the document

def test_is_a_valid_openapi_3_1_document(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1.")
    assert spec["servers"] == [{"url": "/v1/chats"}]


def test_is_plain_json_and_fresh_on_every_call(app):
    first = build_spec(app)
    assert json.loads(json.dumps(first)) == first
    first["paths"].clear()
    assert build_spec(app)["paths"]


def test_every_local_ref_resolves(spec):
    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/"), ref
                target = spec
                for part in ref[2:].split("/"):
                    assert part in target, ref
                    target = target[part]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(spec)


def test_the_served_document_is_the_generated_one(app, spec):
    with app.test_client() as client:
        served = client.get(BASE_PATH + "/openapi.json")
    assert served.status_code == 200
    assert served.get_json() == spec


# ------------------------------------------------------------------ routes and API.md

def test_every_registered_route_is_in_the_document_with_its_methods(app, spec):
    rules = list(api_rules(app))
    assert len(rules) >= 30
    for rule, methods in rules:
        view = app.view_functions[rule.endpoint]
        path, _ = document_path(rule.rule, view.openapi_operation.path_names)
        assert path in spec["paths"], rule.rule
        documented = {m for m in spec["paths"][path] if m in METHODS}
        assert set(methods) <= documented, (rule.rule, methods, documented)
        names = {p["name"] for p in spec["paths"][path].get("parameters", [])}
        assert names == set(re.findall(r"\{(\w+)\}", path)), path
    # ...and nothing else: every operation is a route.
    routes = set()
    for rule, methods in rules:
        view = app.view_functions[rule.endpoint]
        path, _ = document_path(rule.rule, view.openapi_operation.path_names)
        routes |= {(m, path) for m in methods}
    assert {(m, p) for m, p, _, _ in _operations(spec)} == routes


def test_a_route_without_a_declaration_fails_the_document(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    extra = Blueprint("extra", __name__)

    @extra.get("/undeclared")
    def undeclared():
        return {}

    app.register_blueprint(extra, url_prefix=BASE_PATH)
    with pytest.raises(LookupError, match="/v1/chats/undeclared"):
        build_spec(app)


def test_operation_ids_are_unique(spec):
    ids = [op["operationId"] for _, _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids))


def test_the_endpoints_of_api_md_are_the_documented_ones(spec):
    in_api_md = _endpoints_in_api_md(_api_md())
    documented = {(m, p) for m, p, _, _ in _operations(spec)}
    assert in_api_md - PAGES == documented, sorted(in_api_md - PAGES ^ documented)


def test_error_codes_are_api_md_codes(spec):
    assert spec["components"]["schemas"]["ErrorCode"]["enum"] == ERROR_CODES
    listed = _api_md().split("Codes used:", 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"`([a-z_]+)`", listed) == ERROR_CODES


# ------------------------------------------------------------------------ responses

def test_authenticated_endpoints_answer_401_and_public_ones_do_not(spec):
    assert spec["security"] == [{"bearer": []}, {"cookie": []}]
    for method, path, _, op in _operations(spec):
        if (method, path) in PUBLIC:
            assert op.get("security") == [], (method, path)
            assert "401" not in op["responses"] or path == "/sessions", (method, path)
        else:
            assert "security" not in op, (method, path)
            assert "401" in op["responses"], (method, path)


def test_cross_site_cookie_refusal_is_documented(spec):
    for method, path, _, op in _operations(spec):
        if method in {"post", "put", "delete", "patch"} and (method, path) not in PUBLIC:
            assert "403" in op["responses"], (method, path)


def test_bad_ids_and_bodies_are_400_large_bodies_413(spec):
    for method, path, item, op in _operations(spec):
        if (method, path) in WITH_BODY:
            body = op["requestBody"]
            assert body["required"] is True
            assert "application/json" in body["content"]
            assert "413" in op["responses"], (method, path)
        else:
            assert "requestBody" not in op, (method, path)
        if "{" in path or (method, path) in WITH_BODY:
            assert "400" in op["responses"], (method, path)
        assert "default" in op["responses"]


def test_every_error_response_is_the_error_shape_with_its_codes(spec):
    schemas = spec["components"]["schemas"]
    for method, path, _, op in _operations(spec):
        for status, response in op["responses"].items():
            if status[0] not in "45" and status != "default":
                continue
            if path == "/healthcheck" and status == "503":
                continue  # Health or Error, naming the failing part
            schema = response["content"]["application/json"]["schema"]
            name = schema["$ref"].rsplit("/", 1)[1]
            assert name == "Error" or schemas[name]["allOf"] == [
                {"$ref": "#/components/schemas/Error"}], (method, path, status)
            codes = response.get("x-error-codes", ERROR_CODES)
            assert set(codes) <= set(ERROR_CODES), (method, path, status)


@pytest.mark.parametrize("method,path,statuses", [
    ("post", "/users", {"201", "400", "409", "413", "429"}),
    ("post", "/sessions", {"201", "400", "401", "403", "413", "429"}),
    ("delete", "/sessions/current", {"204", "401"}),
    ("get", "/users/me", {"200", "401"}),
    ("get", "/users/{id}", {"200", "400", "401", "404"}),
    ("get", "/users", {"200", "400", "401"}),
    ("get", "/users/{id}/rooms", {"200", "400", "401", "403"}),
    ("delete", "/users/{id}", {"204", "400", "401", "403", "404", "409"}),
    ("put", "/users/{id}/direct", {"200", "201", "400", "401", "404"}),
    ("get", "/users/me/invitations", {"200", "401"}),
    ("post", "/rooms", {"201", "400", "401", "409", "413"}),
    ("get", "/rooms", {"200", "401"}),
    ("get", "/rooms/{id}", {"200", "400", "401", "404"}),
    ("delete", "/rooms/{id}", {"204", "400", "401", "403", "404", "409"}),
    ("get", "/rooms/{id}/users", {"200", "400", "401", "404"}),
    ("post", "/rooms/{id}/users", {"204", "400", "401", "403", "404", "409", "413"}),
    ("delete", "/rooms/{room}/users/{user}", {"204", "400", "401", "403", "404", "409"}),
    ("post", "/rooms/{id}/invitations", {"201", "400", "401", "403", "404", "409"}),
    ("post", "/invitations/{id}/accept", {"204", "400", "401", "403", "404"}),
    ("post", "/invitations/{id}/decline", {"204", "400", "401", "403", "404"}),
    ("post", "/rooms/{id}/bans", {"201", "400", "401", "403", "404", "413"}),
    ("delete", "/rooms/{id}/bans/{user}", {"204", "400", "401", "403", "404"}),
    ("get", "/rooms/{id}/bans", {"200", "400", "401", "403", "404"}),
    ("post", "/users/{id}/ban", {"201", "400", "401", "403", "404", "413"}),
    ("delete", "/users/{id}/ban", {"204", "400", "401", "403", "404"}),
    ("post", "/rooms/{id}/messages",
     {"202", "400", "401", "403", "404", "409", "413", "429", "503"}),
    ("get", "/rooms/{id}/messages", {"200", "400", "401", "403", "404"}),
    ("get", "/rooms/{id}/messages/{mid}", {"200", "400", "401", "404"}),
    ("patch", "/rooms/{id}/messages/{mid}", {"200", "400", "401", "403", "404", "413"}),
    ("delete", "/rooms/{id}/messages/{mid}", {"204", "400", "401", "403", "404"}),
    ("put", "/rooms/{id}/messages/{mid}/reactions/{emoji}", {"204", "400", "401", "403", "404"}),
    ("delete", "/rooms/{id}/messages/{mid}/reactions/{emoji}",
     {"204", "400", "401", "403", "404"}),
    ("post", "/rooms/{id}/typing", {"204", "400", "401", "403", "404"}),
    ("put", "/rooms/{id}/read", {"204", "400", "401", "403", "404", "413"}),
    ("get", "/search/messages", {"200", "400", "401", "403", "404"}),
    ("get", "/users/{id}/subscribe", {"200", "400", "401", "403", "429"}),
    ("get", "/healthcheck", {"200", "503"}),
    ("get", "/openapi.json", {"200"}),
    ("get", "/metrics", {"200"}),
])
def test_statuses_named_by_api_md_are_documented(spec, method, path, statuses):
    assert statuses <= documented_statuses(spec, path, method)


def test_post_message_202_location_429_503_retry_after(spec):
    responses = spec["paths"]["/rooms/{id}/messages"]["post"]["responses"]
    assert responses["202"]["headers"]["Location"]["required"] is True
    for status, code in (("429", "rate_limited"), ("503", "overloaded")):
        header = responses[status]["headers"]["Retry-After"]
        assert header == {"$ref": "#/components/headers/RetryAfter"}
        assert responses[status]["x-error-codes"] == [code]
    assert spec["components"]["headers"]["RetryAfter"]["schema"]["type"] == "integer"


def test_database_outage_is_503_with_retry_after(spec):
    for method, path, _, op in _operations(spec):
        if path in ("/openapi.json", "/metrics", "/healthcheck"):
            continue
        assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)
        assert op["responses"]["503"]["x-error-codes"] == ["overloaded"], (method, path)


def test_query_parameters_come_from_the_query_models(spec):
    def params(path):
        return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}

    name = params("/users")["name"]
    assert name["in"] == "query" and name["required"] is True
    messages = params("/rooms/{id}/messages")
    assert messages["limit"]["schema"] == {"type": "integer", "minimum": 1, "default": 50}
    for cursor in ("before", "after"):
        assert messages[cursor]["in"] == "query" and messages[cursor]["required"] is False
        assert messages[cursor]["schema"]["format"] == "uuid"
    search = params("/search/messages")
    assert list(search) == ["q", "limit", "room", "before"]
    assert search["q"]["required"] is True
    assert search["limit"]["schema"]["default"] == 20


def test_stream_metrics_and_health_media_types(spec):
    stream = spec["paths"]["/users/{id}/subscribe"]["get"]
    ok = stream["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    assert {"Cache-Control", "X-Accel-Buffering"} <= set(ok["headers"])
    assert set(ok["content"]["text/event-stream"]["x-sse-events"]) == {
        "message", "ready", "presence", "membership", "room", "invitation", "read", "reset",
        "edit", "delete", "reaction", "typing"}
    assert any(p["name"] == "Last-Event-ID" and p["in"] == "header"
               for p in stream["parameters"])
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(metrics["content"]) == ["text/plain"]


def test_security_schemes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert (schemes["cookie"]["type"], schemes["cookie"]["in"],
            schemes["cookie"]["name"]) == ("apiKey", "cookie", "chat_session")


# ----------------------------------------------------------------------- the schemas

def test_component_schemas(spec):
    schemas = spec["components"]["schemas"]
    message = schemas["Message"]
    assert message["additionalProperties"] is False
    assert set(message["properties"]) == set(message["required"]) == {
        "id", "user", "room", "message", "created_at", "reply_to", "edited_at", "mentions",
        "reactions"}
    for name in ("User", "Room", "Invitation", "Ban", "Session", "Error", "Health"):
        assert schemas[name].get("additionalProperties", True) is True, name
    assert schemas["User"]["properties"]["api_user"]["type"] == ["string", "null"]
    assert schemas["Room"]["properties"]["kind"]["enum"] == ["public", "private", "direct"]
    assert schemas["Room"]["properties"]["owner"]["type"] == ["string", "null"]
    assert schemas["Invitation"]["properties"]["invited_by"]["type"] == ["string", "null"]
    assert schemas["Ban"]["properties"]["room"]["type"] == ["string", "null"]
    assert schemas["Ban"]["properties"]["valid_until"]["type"] == ["string", "null"]
    assert schemas["Health"]["required"] == ["status", "database", "bus", "processor"]
    assert schemas["UserCreate"]["required"] == ["name", "password"]
    assert schemas["MessageCreate"]["required"] == ["message"]
    assert schemas["RoomBanCreate"]["required"] == ["reason", "user"] or set(
        schemas["RoomBanCreate"]["required"]) == {"user", "reason"}


USER = {"id": UUID_A, "name": "alice", "api_user": None, "created_at": TS}
MESSAGE = {"id": UUID_A, "user": UUID_B, "room": UUID_B, "message": "hi",
           "created_at": TS, "reply_to": None, "edited_at": None, "mentions": [],
           "reactions": [{"emoji": "👍", "count": 1, "users": [UUID_B]}]}


def error(code):
    return {"error": {"code": code, "message": "x"}}


def test_response_schema_validates_real_shapes(spec):
    assert _valid(response_schema(spec, "/users/me", "GET", 200), USER)
    assert _valid(response_schema(spec, "/users/me", "get", 200), {**USER, "extra": 1})
    assert not _valid(response_schema(spec, "/users/me", "get", 200),
                      {**USER, "created_at": "2025-05-04 20:56:16"})
    assert _valid(response_schema(spec, "/users", "get", 200), [USER])
    assert not _valid(response_schema(spec, "/users", "get", 200), [USER, USER])
    members = response_schema(spec, "/rooms/{id}/users", "get", 200)
    assert _valid(members, [{**USER, "online": True}])
    assert not _valid(members, [USER])
    room = {"id": UUID_A, "name": "r", "kind": "public", "owner": None, "created_at": TS}
    mine = response_schema(spec, "/users/{id}/rooms", "get", "200")
    assert _valid(mine, [{**room, "unread_count": 0, "mention_count": 0, "last_read": None}])
    assert not _valid(mine, [room])
    assert not _valid(response_schema(spec, "/rooms/{id}", "get", 200),
                      {**room, "kind": "secret"})
    direct = response_schema(spec, "/users/{id}/direct", "put", 201)
    assert _valid(direct, {**room, "kind": "direct", "peer": USER})
    assert not _valid(direct, {**room, "kind": "public", "peer": USER})
    assert not _valid(direct, {**room, "kind": "direct"})
    posted = response_schema(spec, "/v1/chats/rooms/{id}/messages", "post", 202)
    assert _valid(posted, MESSAGE)
    assert not _valid(posted, {**MESSAGE, "extra": 1})  # exactly the nine fields
    assert not _valid(posted, {k: v for k, v in MESSAGE.items() if k != "mentions"})
    history = response_schema(spec, "/rooms/{id}/messages", "get", 200)
    assert _valid(history, [MESSAGE, MESSAGE])
    session = {"token": "t", "expires_at": TS, "user": USER}
    assert _valid(response_schema(spec, "/sessions", "post", 201), session)
    ban = {"room": None, "user": UUID_A, "reason": "spam", "valid_until": None,
           "created_at": TS}
    assert _valid(response_schema(spec, "/users/{id}/ban", "post", 201), ban)
    assert not _valid(response_schema(spec, "/rooms/{id}/bans", "post", 201), ban)
    assert _valid(response_schema(spec, "/rooms/{id}/bans", "get", 200),
                  [{**ban, "room": UUID_B}])
    invitation = {"id": UUID_A, "room": UUID_B, "user": UUID_A, "invited_by": None,
                  "created_at": TS}
    assert _valid(response_schema(spec, "/users/me/invitations", "get", 200), [invitation])
    health = {"status": "ok", "database": "ok", "bus": "ok", "processor": "ok"}
    assert _valid(response_schema(spec, "/healthcheck", "get", 200), health)
    assert not _valid(response_schema(spec, "/healthcheck", "get", 200),
                      {**health, "bus": "unavailable"})
    assert _valid(response_schema(spec, "/healthcheck", "get", 503),
                  {**health, "status": "unavailable", "bus": "unavailable"})


def test_response_schema_narrows_error_codes(spec):
    not_found = response_schema(spec, "/rooms/{id}", "get", 404)
    assert _valid(not_found, error("not_found"))
    assert not _valid(not_found, error("forbidden"))
    assert not _valid(not_found, {"error": {"code": "not_found"}})
    assert _valid(response_schema(spec, "/users", "post", 409), error("name_taken"))
    assert not _valid(response_schema(spec, "/users", "post", 409), error("conflict"))
    assert _valid(response_schema(spec, "/sessions", "post", 401),
                  error("invalid_credentials"))
    assert _valid(response_schema(spec, "/rooms/{id}/messages", "post", 403),
                  error("not_member"))
    assert _valid(response_schema(spec, "/rooms/{id}/messages", "post", 429),
                  error("rate_limited"))
    assert not _valid(response_schema(spec, "/rooms", "get", 401), error("made_up"))


def test_response_schema_none_cases(spec):
    assert response_schema(spec, "/rooms/{id}", "delete", 204) is None  # no body
    assert response_schema(spec, "/rooms/{id}", "get", 418) is None  # undocumented
    assert response_schema(spec, "/nope", "get", 200) is None
    assert response_schema(spec, "/rooms", "patch", 200) is None
    assert response_schema(spec, "/metrics", "get", 200)["type"] == "string"


def test_find_path_template(spec):
    assert find_path_template(spec, f"/v1/chats/rooms/{UUID_A}/messages?limit=5") == \
        "/rooms/{id}/messages"
    assert find_path_template(spec, "/v1/chats/users/me") == "/users/me"
    assert find_path_template(spec, f"/v1/chats/users/{UUID_A}") == "/users/{id}"
    assert find_path_template(spec, f"/v1/chats/rooms/{UUID_A}/users/{UUID_B}") == \
        "/rooms/{room}/users/{user}"
    assert find_path_template(spec, "/v1/chats/nope") is None
