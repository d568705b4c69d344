"""API.md "Errors" and "Operations": JSON errors from the framework and from request
parsing, authentication required, path ids checked first; /healthcheck, /openapi.json
(also checked against real responses), /metrics."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate as validate_openapi
from prometheus_client.parser import text_string_to_metric_families

from tests.api.core_support import (
    chat_events_until,
    unique_room_name,
    wait_stored,
)
from tests.support.checks import assert_error
from tests.support.openapi import documented_statuses, find_path_template, response_schema
from tests.support.server import ChatClient, unique_name

LIMIT = 64 * 1024


def _raw_post(client, path, data, content_type="application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(path, data=data, headers=headers)


# -- framework errors ----------------------------------------------------------------------

def test_unknown_routes_are_json_404(live_server, api):
    """Unknown route: 404 with the JSON error body, signed in or not (never 401)."""
    me = api()
    for url in (live_server.api + "/nope", live_server.api + "/users/me/nope",
                live_server.url + "/v1/nope", live_server.url + "/no/such/page"):
        assert_error(requests.get(url, timeout=10), 404, "not_found")
        assert_error(me.session.get(url, timeout=10), 404, "not_found")


def test_wrong_method_is_json_405(live_server, api):
    """Wrong method: 405 method_not_allowed (JSON), with an Allow header."""
    me = api()
    for method, path in (("PATCH", "/rooms"), ("DELETE", "/healthcheck"), ("PUT", "/sessions"),
                         ("POST", "/metrics"), ("PUT", "/users/me")):
        for session in (requests, me.session):
            response = session.request(method, live_server.api + path, timeout=10)
            assert_error(response, 405, "method_not_allowed")
            assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]
    allow = requests.patch(live_server.api + "/rooms", timeout=10).headers["Allow"]
    assert {"GET", "POST"} <= {m.strip() for m in allow.split(",")}


def test_body_over_64_kib_is_413(api, anon):
    """A body larger than 64 KiB is refused with 413 payload_too_large; exactly 64 KiB is
    fine (unknown extra fields are ignored); a chunked body is held to the same limit."""
    me = api()
    room = me.create_room()
    path = f"/rooms/{room['id']}/messages"

    def body_of(size, text="hello"):
        base = json.dumps({"message": text, "pad": ""})
        body = json.dumps({"message": text, "pad": "x" * (size - len(base))}).encode()
        assert len(body) == size
        return body

    accepted = _raw_post(me, path, body_of(LIMIT))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["message"] == "hello"
    assert_error(_raw_post(me, path, body_of(LIMIT + 1)), 413, "payload_too_large")
    # Not signed in, on a public endpoint: still 413 rather than a parse of half a body.
    big_signup = json.dumps({"name": unique_name(), "password": "password123",
                             "pad": "x" * LIMIT})
    assert_error(_raw_post(anon, "/users", big_signup), 413, "payload_too_large")

    def chunks(body, size=4096):
        for i in range(0, len(body), size):
            yield body[i:i + size]

    # Transfer-Encoding: chunked (no Content-Length): a valid JSON object followed by
    # whitespace past the limit must not be silently cut down and accepted.
    padded = b'{"message": "sneaky"}' + b" " * LIMIT
    assert_error(_raw_post(me, path, chunks(padded)), 413, "payload_too_large")
    assert_error(_raw_post(me, path, chunks(body_of(LIMIT + 1000))), 413, "payload_too_large")
    small = _raw_post(me, path, chunks(json.dumps({"message": "chunked ok"}).encode()))
    assert small.status_code == 202 and small.json()["message"] == "chunked ok", small.text
    exact = _raw_post(me, path, chunks(body_of(LIMIT, "chunked 64 KiB")))
    assert exact.status_code == 202, exact.text
    history = wait_stored(me, room["id"], [m.json()["id"] for m in (accepted, small, exact)])
    assert [m["message"] for m in history] == ["hello", "chunked ok", "chunked 64 KiB"]


@pytest.mark.parametrize("data, content_type", [
    ('{"name": ', "application/json"),                   # malformed
    ('{"name": "x"} trailing', "application/json"),      # garbage after the object
    ("", "application/json"),                            # empty body
    ('["name", "x"]', "application/json"),               # an array, not an object
    ('"just a string"', "application/json"),
    ("null", "application/json"),
    ("42", "application/json"),
    ("[" * 20000 + "]" * 20000, "application/json"),     # nested too deep to parse
    ('{"name": ' + "[" * 20000 + "]" * 20000 + "}", "application/json"),
    ("{{VALID}}", "text/plain"),                         # valid JSON, wrong content type
    ("{{VALID}}", None),                                 # no content type at all
    ("name=x", "application/x-www-form-urlencoded"),
])
def test_bad_json_bodies_are_400_invalid_json(api, anon, data, content_type):
    """Malformed JSON, a non-object body, or a wrong content type: 400 invalid_json, never
    a 500, and nothing is created."""
    me = api()
    room_name = unique_room_name()
    room_data = data.replace("{{VALID}}", json.dumps({"name": room_name})) \
        if isinstance(data, str) else data
    assert_error(_raw_post(me, "/rooms", room_data, content_type), 400, "invalid_json")
    assert room_name not in {r["name"] for r in me.rooms()}
    user_name = unique_name()
    signup = data.replace("{{VALID}}", json.dumps({"name": user_name,
                                                   "password": "password123"})) \
        if isinstance(data, str) else data
    assert_error(_raw_post(anon, "/users", signup, content_type), 400, "invalid_json")
    assert me.get("/users", params={"name": user_name}).json() == []


def test_missing_or_wrongly_typed_fields_are_400_validation_error(api, anon):
    """Missing or wrongly typed body fields: 400 validation_error; unknown extra fields
    are ignored."""
    me = api()
    room = me.create_room()
    cases = [
        (me, "/rooms", {}),
        (me, "/rooms", {"name": 5}),
        (me, "/rooms", {"name": ["a"]}),
        (me, "/rooms", {"name": None}),
        (me, "/rooms", {"name": unique_room_name(), "kind": 1}),
        (me, "/rooms", {"name": unique_room_name(), "kind": "direct"}),
        (me, "/rooms", {"name": unique_room_name(), "kind": "secret"}),
        (anon, "/users", {"password": "password123"}),
        (anon, "/users", {"name": unique_name()}),
        (anon, "/users", {"name": unique_name(), "password": 12345678}),
        (anon, "/users", {"name": unique_name(), "password": "password123", "api_user": "x"}),
        (anon, "/users", {"name": unique_name(), "password": "password123", "api_user": 7}),
        (anon, "/sessions", {"name": "someone"}),
        (anon, "/sessions", {"password": "password123"}),
        (anon, "/sessions", {"name": 1, "password": "password123"}),
        (me, f"/rooms/{room['id']}/users", {}),
        (me, f"/rooms/{room['id']}/users", {"chat_user": "not-a-uuid"}),
        (me, f"/rooms/{room['id']}/users", {"chat_user": 12}),
        (me, f"/rooms/{room['id']}/messages", {}),
        (me, f"/rooms/{room['id']}/messages", {"message": 12}),
        (me, f"/rooms/{room['id']}/messages", {"message": ["hi"]}),
        (me, f"/rooms/{room['id']}/messages", {"message": "hi", "id": "not-a-uuid"}),
        (me, f"/rooms/{room['id']}/messages", {"message": "hi", "user": "not-a-uuid"}),
    ]
    for client, path, body in cases:
        assert_error(client.post(path, json=body), 400, "validation_error")
    assert_error(me.put(f"/rooms/{room['id']}/read", json={}), 400, "validation_error")
    assert_error(me.put(f"/rooms/{room['id']}/read", json={"message": "x"}),
                 400, "validation_error")
    # Nothing above was created.
    assert [r["name"] for r in me.rooms() if r["owner"] == me.id] == [room["name"]]
    assert me.history(room["id"]) == []
    # Extra fields are ignored.
    made = me.post("/rooms", json={"name": unique_room_name(), "color": "blue", "x": [1]})
    assert made.status_code == 201, made.text


def test_non_uuid_path_ids_are_400_before_anything_else(api, anon):
    """A non-UUID path id is 400 validation_error even unauthenticated and even where the
    caller would otherwise be refused (403/404)."""
    me, other = api(), api()
    room = other.create_room(kind="private")
    good = str(uuid.uuid4())
    paths = [
        ("GET", "/rooms/abc"), ("DELETE", "/rooms/abc"), ("GET", "/rooms/abc/users"),
        ("POST", "/rooms/abc/users"), ("POST", "/rooms/abc/messages"),
        ("GET", "/rooms/abc/messages"), ("GET", f"/rooms/{room['id']}/messages/abc"),
        ("DELETE", f"/rooms/{good}/users/abc"), ("DELETE", f"/rooms/abc/users/{good}"),
        ("GET", "/users/abc"), ("GET", "/users/abc/rooms"), ("DELETE", "/users/abc"),
        ("GET", "/users/abc/subscribe"), ("PUT", "/rooms/12345/read"),
        ("GET", f"/rooms/{good[:-1]}/users"), ("GET", "/users/" + "f" * 33),
    ]
    for method, path in paths:
        for client in (anon, me):
            response = client.request(method, path, json={"message": "hi"})
            assert_error(response, 400, "validation_error")


def test_every_protected_endpoint_needs_authentication(anon):
    """Without a token or cookie every endpoint except healthcheck/openapi/metrics answers
    401 unauthenticated."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    endpoints = [
        ("GET", "/users/me"), ("GET", f"/users/{a}"), ("GET", "/users?name=x"),
        ("GET", f"/users/{a}/rooms"), ("DELETE", f"/users/{a}"), ("PUT", f"/users/{a}/direct"),
        ("GET", "/users/me/invitations"), ("POST", "/rooms"), ("GET", "/rooms"),
        ("GET", f"/rooms/{a}"), ("DELETE", f"/rooms/{a}"), ("GET", f"/rooms/{a}/users"),
        ("POST", f"/rooms/{a}/users"), ("DELETE", f"/rooms/{a}/users/{b}"),
        ("POST", f"/rooms/{a}/invitations"), ("POST", f"/invitations/{a}/accept"),
        ("POST", f"/invitations/{a}/decline"), ("POST", f"/rooms/{a}/bans"),
        ("GET", f"/rooms/{a}/bans"), ("DELETE", f"/rooms/{a}/bans/{b}"),
        ("POST", f"/users/{a}/ban"), ("DELETE", f"/users/{a}/ban"),
        ("POST", f"/rooms/{a}/messages"), ("GET", f"/rooms/{a}/messages"),
        ("GET", f"/rooms/{a}/messages/{b}"), ("PUT", f"/rooms/{a}/read"),
        ("GET", f"/users/{a}/subscribe"), ("DELETE", "/sessions/current"),
    ]
    for method, path in endpoints:
        response = anon.request(method, path, json={"message": "hi", "name": "x"})
        assert_error(response, 401, "unauthenticated")
    for path in ("/healthcheck", "/openapi.json", "/metrics"):
        assert anon.get(path).status_code == 200, path


# -- operations ----------------------------------------------------------------------------

def test_healthcheck(anon):
    """GET /healthcheck: 200 {"status": "ok", "database": "ok", "bus": "ok", "processor": "ok"}, no sign-in."""
    response = anon.get("/healthcheck")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "ok", "bus": "ok", "processor": "ok"}


@pytest.fixture
def spec(anon):
    response = anon.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_openapi_document_is_valid_openapi_3(spec):
    """GET /openapi.json serves a valid OpenAPI 3 document covering the core endpoints."""
    validate_openapi(spec)
    assert spec["openapi"].startswith("3.")
    for path, method in (("/users", "post"), ("/sessions", "post"), ("/users/me", "get"),
                         ("/rooms", "post"), ("/rooms/{id}/messages", "post"),
                         ("/rooms/{id}/messages", "get"), ("/users/{id}/subscribe", "get"),
                         ("/healthcheck", "get"), ("/metrics", "get")):
        assert documented_statuses(spec, path, method), (path, method)


def _check_against_spec(spec, response):
    """A real response must match the schema the document gives for its status."""
    path = urlsplit(response.request.url).path
    template = find_path_template(spec, path)
    method = response.request.method.lower()
    assert template is not None, path
    status = str(response.status_code)
    statuses = documented_statuses(spec, template, method)
    assert status in statuses or status[0] + "XX" in statuses, (method, template, status)
    schema = response_schema(spec, template, method, response.status_code)
    if response.status_code == 204:
        assert schema is None and not response.content
        return
    assert schema is not None, (method, template, status)
    jsonschema.validate(response.json(), schema, format_checker=jsonschema.FormatChecker())


def test_real_responses_match_the_openapi_document(spec, live_server, anon):
    """Responses of the running server, successes and errors, validate against the
    schemas of /openapi.json."""
    name = unique_name()
    me_client = ChatClient(live_server.api)
    checked = []

    def check(response):
        _check_against_spec(spec, response)
        checked.append(response)
        return response

    check(me_client.post("/users", json={"name": name, "password": "password123",
                                         "api_user": str(uuid.uuid4())}))
    login = check(me_client.post("/sessions", json={"name": name, "password": "password123"}))
    me_client.token, me_client.user = login.json()["token"], login.json()["user"]
    me_client.session.headers["Authorization"] = f"Bearer {me_client.token}"
    me = me_client
    other = ChatClient(live_server.api).register()
    try:
        check(me.get("/users/me"))
        check(me.get(f"/users/{other.id}"))
        check(me.get("/users", params={"name": other.user["name"]}))
        check(me.get(f"/users/{me.id}/rooms"))
        room = check(me.post("/rooms", json={"name": unique_room_name()})).json()
        check(me.get("/rooms"))
        check(me.get(f"/rooms/{room['id']}"))
        with me.subscribe() as sse:
            sse.wait_ready()
            posted = check(me.post(f"/rooms/{room['id']}/messages",
                                   json={"message": "schema check ✓"})).json()
            chat_events_until(sse, [posted["id"]])
        check(me.get(f"/rooms/{room['id']}/users"))
        check(me.get(f"/rooms/{room['id']}/messages"))
        check(me.get(f"/rooms/{room['id']}/messages", params={"before": posted["id"]}))
        check(me.get(f"/rooms/{room['id']}/messages/{posted['id']}"))
        check(anon.get("/healthcheck"))
        # Errors.
        check(me.post("/rooms", json={}))  # 400
        check(me.get(f"/rooms/{room['id']}/messages", params={"limit": "0"}))  # 400
        check(me.post(f"/rooms/{room['id']}/messages", json={"message": " "}))  # 400
        check(anon.get("/users/me"))  # 401
        check(anon.post("/sessions", json={"name": name, "password": "wrong-password"}))
        check(me.get(f"/users/{other.id}/rooms"))  # 403
        check(other.post(f"/rooms/{room['id']}/messages", json={"message": "x"}))  # 403
        check(me.get(f"/rooms/{uuid.uuid4()}"))  # 404
        check(me.get(f"/users/{uuid.uuid4()}"))  # 404
        check(me.post("/rooms", json={"name": room["name"]}))  # 409
        check(me.post("/users", json={"name": name, "password": "password123"}))  # 409
        check(me.post(f"/rooms/{room['id']}/messages", data=b"{" + b" " * LIMIT + b"}",
                      headers={"Content-Type": "application/json"}))  # 413
        check(me.delete(f"/rooms/{room['id']}"))  # 204
        statuses = {r.status_code for r in checked}
        assert {200, 201, 202, 204, 400, 401, 403, 404, 409, 413} <= statuses
    finally:
        other.close()
        me.close()


METRICS = {  # API.md: requests, messages accepted/stored/delivered, queue depth, open
    # streams, delivery latency (names as this server exports them)
    "chat_http_requests": "counter",
    "chat_messages_accepted": "counter",
    "chat_messages_stored": "counter",
    "chat_messages_delivered": "counter",
    "chat_queue_depth": "gauge",
    "chat_open_streams": "gauge",
    "chat_delivery_latency_seconds": "histogram",
}


def _metrics(anon):
    response = anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    values = {}
    for family in families.values():
        for sample in family.samples:
            if not sample.name.endswith(("_bucket", "_created")):  # sum over labels
                values[sample.name] = values.get(sample.name, 0) + sample.value
    return families, values


def test_metrics_are_prometheus_text_with_the_documented_series(api, anon):
    """GET /metrics: Prometheus text with requests, accepted/stored/delivered messages,
    queue depth, open streams and delivery latency, which move when a message flows."""
    families, before = _metrics(anon)
    for name, kind in METRICS.items():
        assert name in families, (name, sorted(families))
        assert families[name].type == kind, (name, families[name].type)
    me = api()
    room = me.create_room()
    with me.subscribe() as sse:
        sse.wait_ready()
        _, during = _metrics(anon)
        assert during["chat_open_streams"] >= 1
        posted = me.post_message(room["id"], "counted")
        chat_events_until(sse, [posted["id"]])
        _, after = _metrics(anon)
    assert after["chat_messages_accepted_total"] == before["chat_messages_accepted_total"] + 1
    assert after["chat_messages_stored_total"] >= before["chat_messages_stored_total"] + 1
    assert after["chat_messages_delivered_total"] >= before["chat_messages_delivered_total"] + 1
    assert (after["chat_delivery_latency_seconds_count"]
            >= before["chat_delivery_latency_seconds_count"] + 1)
    assert after["chat_http_requests_total"] > before["chat_http_requests_total"]
    assert after["chat_queue_depth"] >= 0
