"""schemathesis against the served OpenAPI document: for every operation, generated
requests (valid and invalid by the schema, with a signed-in user's token) never get a
5xx, and every answer matches the document — its status codes, content types, headers
and response schemas. PostgreSQL, the stricter store (it refuses NUL characters)."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chat.api.openapi_spec import build_spec
from tests.support.server import ChatClient

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

# The stream answers for as long as the client stays; signing out or deleting the test's
# own account would turn every later case into a 401 (their rules have tests of their own).
schema = (schemathesis.openapi.from_dict(build_spec())
          .exclude(path="/users/{id}/subscribe")
          .exclude(path="/sessions/current", method="DELETE")
          .exclude(path="/users/{id}", method="DELETE"))


@pytest.fixture(scope="module")
def database_url(request):
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="module")
def server_env(server_env):
    return {**server_env, "CHAT_RATE_LIMIT": "100000/second"}


@pytest.fixture(scope="module")
def caller(live_server):
    client = ChatClient(live_server.api).register()
    yield client
    client.close()


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case, live_server, caller, http):
    headers = {**caller.auth_header, **(case.headers or {})}
    case.call_and_validate(base_url=live_server.api, session=http, headers=headers,
                           checks=CHECKS, timeout=10)
