"""Text that cannot be stored is refused, never half-accepted (API.md 1.1): NUL, lone
surrogates and invalid UTF-8 anywhere in a request answer 400 validation_error naming the
field, and afterwards every other message is still stored and delivered."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.checks import assert_error

BAD_STRINGS = ["a\u0000b", "bad\ud800", "\udfff"]


@pytest.fixture(scope="module")
def server_env(database_url):
    """The fuzzing posts faster than the default per-user rate limit."""
    from tests.support.fixtures import TEST_SERVER_ENV

    return {"DATABASE_URL": database_url, **TEST_SERVER_ENV,
            "CHAT_RATE_LIMIT": "10000/second"}


def _raw_json(client, method, path, body):
    """Sends `body` as JSON with escapes (ensure_ascii), so lone surrogates arrive."""
    return client.request(method, path, data=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json"})


def _still_stores(client, room_id):
    sent = client.post_message(room_id, f"still working {uuid.uuid4()}")
    assert client.history(room_id)[-1] == sent  # a 202 is stored: history has it


@pytest.fixture
def member(api):
    client = api()
    return client, client.create_room()["id"]


@pytest.mark.parametrize("text", BAD_STRINGS)
def test_message_text_that_cannot_be_stored_is_refused(member, text):
    client, room = member
    response = _raw_json(client, "POST", f"/rooms/{room}/messages", {"message": text})
    assert_error(response, 400, "validation_error")
    assert "message" in response.json()["error"]["message"]
    _still_stores(client, room)


@pytest.mark.parametrize("field,path,extra", [
    ("name", "/users", {"password": "password123"}),
    ("password", "/users", {"name": "someone"}),
    ("name", "/sessions", {"password": "password123"}),
    ("name", "/rooms", {}),
])
@pytest.mark.parametrize("text", BAD_STRINGS[:2])
def test_other_body_fields_refuse_it_too(member, anon, field, path, extra, text):
    client, room = member
    caller = client if path == "/rooms" else anon
    response = _raw_json(caller, "POST", path, {**extra, field: text})
    assert_error(response, 400, "validation_error")
    _still_stores(client, room)


def test_invalid_utf8_body_is_refused(member):
    client, room = member
    response = client.post(f"/rooms/{room}/messages", data=b'{"message": "\xff\xfe"}',
                           headers={"Content-Type": "application/json"})
    assert_error(response, 400, "validation_error")
    _still_stores(client, room)


def test_query_parameters_path_and_last_event_id_refuse_it(member):
    client, room = member
    assert_error(client.get("/users", params={"name": "a\u0000b"}), 400, "validation_error")
    assert_error(client.get("/users?name=%ff"), 400, "validation_error")
    assert_error(client.get(f"/rooms/{room}/messages?before=%00"), 400, "validation_error")
    assert_error(client.get("/rooms/%00/messages"), 400, "validation_error")
    # (A NUL in a header never reaches the app: gunicorn refuses the request line.)
    response = client.get(f"/users/{client.id}/subscribe?last_event_id=a%00", stream=True)
    assert_error(response, 400, "validation_error")
    _still_stores(client, room)


def test_user_names_match_their_alphabet_exactly(anon):
    response = anon.post("/users", json={"name": "alice\n", "password": "password123"})
    assert_error(response, 400, "invalid_name")
    assert_error(anon.get("/users?name="), 401, "unauthenticated")


def test_room_names_are_stored_nfc_and_refuse_format_characters(member):
    client, _ = member
    decomposed = f"Cafe\u0301 {uuid.uuid4().hex[:6]}"
    room = client.create_room(decomposed)
    assert room["name"] == decomposed.replace("e\u0301", "\u00e9")
    for name in ("zero\u200bwidth", "bidi\u202eoverride"):
        assert_error(client.post("/rooms", json={"name": name}), 400, "invalid_name")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec=None), max_size=40),
       field=st.sampled_from(["message", "id", "reply_to", "user"]))
def test_arbitrary_text_in_a_post_never_gets_a_5xx(member, text, field):
    client, room = member
    body = {"message": "hello", field: text}
    response = _raw_json(client, "POST", f"/rooms/{room}/messages", body)
    assert response.status_code < 500, response.text


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec=None), max_size=40),
       target=st.sampled_from(["signup-name", "signup-password", "session-name", "room-name",
                               "room-kind", "users-query", "history-cursor"]))
def test_arbitrary_text_elsewhere_never_gets_a_5xx_and_storage_goes_on(member, anon, text,
                                                                      target):
    client, room = member
    if target == "signup-name":
        response = _raw_json(anon, "POST", "/users", {"name": text, "password": "password123"})
    elif target == "signup-password":
        response = _raw_json(anon, "POST", "/users",
                             {"name": f"u{uuid.uuid4().hex[:8]}", "password": text})
    elif target == "session-name":
        response = _raw_json(anon, "POST", "/sessions", {"name": text, "password": "x" * 8})
    elif target == "room-name":
        response = _raw_json(client, "POST", "/rooms", {"name": text})
    elif target == "room-kind":
        response = _raw_json(client, "POST", "/rooms", {"name": f"r{uuid.uuid4()}", "kind": text})
    elif target == "users-query":
        response = client.get("/users", params={"name": text.encode("utf-8", "surrogatepass")})
    else:
        response = client.get(f"/rooms/{room}/messages",
                              params={"before": text.encode("utf-8", "surrogatepass")})
    assert response.status_code < 500, response.text
    _still_stores(client, room)
