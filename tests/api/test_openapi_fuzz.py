"""schemathesis against the served OpenAPI document (GET /v1/chats/openapi.json, generated
from the routes and chat/schemas.py): generated requests (valid and invalid by the
schema, with a signed-in user's token) never get a 5xx, and every answer matches the
document — its status codes, content types, headers and response schemas — with all of
schemathesis' checks. PostgreSQL, the stricter store (it refuses NUL characters)."""

from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from chat import create_app
from chat.api.openapi import build_spec
from tests.support.server import ChatClient

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def database_url(request):
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="module")
def server_env(server_env):
    return {**server_env, "CHAT_RATE_LIMIT": "100000/second",
            "CHAT_SIGNUP_RATE_LIMIT": "100000/second",
            "CHAT_LOGIN_RATE_LIMIT": "100000/second"}


@pytest.fixture(scope="module")
def caller(live_server):
    client = ChatClient(live_server.api).register()
    yield client
    client.close()


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def _document():
    """The document the server serves (test_the_fuzzed_document_is_the_served_one): the
    routes and models of this tree. Built at import, as schemathesis parametrizes then."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return build_spec(app)


def _config():
    return SchemathesisConfig.from_dict({
        # API.md: text holding U+0000 is refused with 400 wherever it is, keys included;
        # the document does not repeat that on every string.
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "allow-x00": False},
    })


DOCUMENT = _document()
# The stream answers for as long as the client stays (tested bounded below); signing out
# or deleting the test's own account would turn every later case into a 401 (their rules
# have tests of their own).
schema = (schemathesis.openapi.from_dict(DOCUMENT, config=_config())
          .exclude(path="/users/{id}/subscribe")
          .exclude(path="/sessions/current", method="DELETE")
          .exclude(path="/users/{id}", method="DELETE"))


@schemathesis.check
def unsupported_method_but_ids_first(ctx, response, case):
    """schemathesis' `unsupported_method`, except for API.md's rule that a path id that is
    not a UUID is a 400 before anything else: `DELETE /users/me` is `DELETE /users/{id}`
    with the id "me" (undeclared for `/users/me`, but answered by that rule)."""
    try:
        return unsupported_method(ctx, response, case)
    except AssertionError:
        body = response.json() if response.status_code == 400 else None
        if body and body["error"]["code"] == "validation_error" \
                and body["error"]["message"].endswith("is not a valid id"):
            return None
        raise


# 400s for schema-valid requests that API.md gives on purpose, for what a schema cannot
# say: whether an id names a message of the room (or of the rooms searched), whether a
# time is still in the future, and the rules between fields or with the caller.
SEMANTIC_400 = [
    ("invalid_cursor", re.compile(r"'(before|after)' is not a message of ")),
    ("validation_error", re.compile(r"'reply_to' is not a message of this room")),
    ("validation_error", re.compile(r"Use 'before' or 'after', not both")),
    ("validation_error", re.compile(r"'valid_until' must be in the future")),
    ("validation_error", re.compile(r"You cannot ban yourself|A direct room needs another")),
]


def _semantic_400(response) -> bool:
    if response.status_code != 400:
        return False
    error = response.json()["error"]
    return any(code == error["code"] and pattern.search(error["message"])
               for code, pattern in SEMANTIC_400)


@schemathesis.check
def positive_data_acceptance_but_semantic_400s(ctx, response, case):
    """schemathesis' `positive_data_acceptance`, except for the 400s of SEMANTIC_400."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if _semantic_400(response):
            return None
        raise


REPLACED_CHECKS = [unsupported_method, positive_data_acceptance]


def test_the_fuzzed_document_is_the_served_one(live_server):
    served = requests.get(live_server.api + "/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case, live_server, caller, http):
    headers = {**caller.auth_header, **(case.headers or {})}
    case.call_and_validate(base_url=live_server.api, session=http, headers=headers,
                           excluded_checks=REPLACED_CHECKS, timeout=10)
