"""API.md "Authentication" (1.1): failed sign-ins are throttled per name and per client
address (CHAT_LOGIN_RATE_LIMIT), sign-ups per client address (CHAT_SIGNUP_RATE_LIMIT);
both answer 429 rate_limited with Retry-After. Servers of their own with low limits.

Client addresses: the server trusts one X-Forwarded-For hop (it runs behind a PaaS router),
so each test speaks from addresses of its own by sending that header."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import requests

from tests.support.checks import assert_error
from tests.support.fixtures import stop_server
from tests.support.server import ServerProcess, unique_name

PASSWORD = "password123"
LOGIN_LIMIT = 3
SIGNUP_LIMIT = 4


@pytest.fixture(scope="module")
def throttled(migrated_database, server_env):
    server = ServerProcess(migrated_database, {
        **server_env, "CHAT_LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT}/minute",
        "CHAT_SIGNUP_RATE_LIMIT": f"{SIGNUP_LIMIT}/minute"})
    server.start()
    yield server
    stop_server(server)


def _address():
    """A client address no other test uses (TEST-NET-3 plus random bits)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _call(server, method, path, address, **kw):
    headers = {"X-Forwarded-For": address, **kw.pop("headers", {})}
    return requests.request(method, server.api + path, headers=headers, timeout=10, **kw)


def _signup(server, name, address=None):
    response = _call(server, "POST", "/users", address or _address(),
                     json={"name": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()


def _login(server, name, password, address):
    return _call(server, "POST", "/sessions", address,
                 json={"name": name, "password": password})


def _assert_throttled(response, window=60):
    assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window + 1, retry_after
    assert retry_after != 2, "Retry-After must not coincide with the 2 s keep-alive"
    return retry_after


def test_failed_sign_ins_for_one_name_throttle_that_name(throttled):
    """Over the limit of failures for one name, from any addresses: 429 even with the right
    password and in another letter case; other names are not affected."""
    name = unique_name("Target")
    _signup(throttled, name)
    for _ in range(LOGIN_LIMIT):
        assert_error(_login(throttled, name, "wrong-password", _address()),
                     401, "invalid_credentials")
    _assert_throttled(_login(throttled, name, PASSWORD, _address()))
    _assert_throttled(_login(throttled, name.upper(), PASSWORD, _address()))
    _assert_throttled(_login(throttled, name.lower(), "wrong-password", _address()))
    other = unique_name()
    _signup(throttled, other)
    assert _login(throttled, other, PASSWORD, _address()).status_code == 201


def test_failed_sign_ins_from_one_address_throttle_that_address(throttled):
    """Over the limit of failures from one address (any names, known or not): 429 for every
    name from there, right password or not; other addresses still sign in."""
    name = unique_name()
    _signup(throttled, name)
    address = _address()
    for _ in range(LOGIN_LIMIT):
        assert_error(_login(throttled, unique_name("nobody"), "wrong-password", address),
                     401, "invalid_credentials")
    _assert_throttled(_login(throttled, name, PASSWORD, address))
    ok = _login(throttled, name, PASSWORD, _address())
    assert ok.status_code == 201, ok.text


def test_successful_sign_ins_are_not_counted(throttled):
    name = unique_name()
    _signup(throttled, name)
    address = _address()
    for _ in range(LOGIN_LIMIT + 2):
        response = _login(throttled, name, PASSWORD, address)
        assert response.status_code == 201, response.text


def test_sign_ups_from_one_address_are_throttled(throttled):
    """Over CHAT_SIGNUP_RATE_LIMIT sign-ups from one address: 429 with Retry-After, and no
    account is made; other addresses still sign up."""
    address = _address()
    for _ in range(SIGNUP_LIMIT):
        _signup(throttled, unique_name(), address)
    refused = unique_name("refused")
    _assert_throttled(_call(throttled, "POST", "/users", address,
                            json={"name": refused, "password": PASSWORD}))
    assert _login(throttled, refused, PASSWORD, _address()).status_code == 401
    _signup(throttled, unique_name(), _address())


def test_the_throttle_ends_when_the_window_passes(server_factory, database_url):
    """After Retry-After seconds the name signs in again (a 1-second window)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("timing of the limiter only, the same for every database: run once")
    server = server_factory({"CHAT_LOGIN_RATE_LIMIT": "2/second"})
    name = unique_name()
    _signup(server, name)
    address = _address()
    for _ in range(2):
        _login(server, name, "wrong-password", address)
    response = _login(server, name, PASSWORD, address)
    if response.status_code == 429:  # (unless the machine took over a second for the two)
        time.sleep(_assert_throttled(response, window=1) + 0.2)
    ok = _login(server, name, PASSWORD, address)
    assert ok.status_code == 201, ok.text


def test_an_unreachable_limiter_storage_throttles_nothing(caplog):
    """Redis down: sign-ins and sign-ups go through (a warning is logged)."""
    from flask import Flask

    from chat.ratelimit import Limits

    limits = Limits({"REDIS_URL": "redis://127.0.0.1:1/0", "CHAT_RATE_LIMIT": "1/minute",
                     "CHAT_LOGIN_RATE_LIMIT": "1/minute", "CHAT_SIGNUP_RATE_LIMIT": "1/minute"},
                    scope=lambda: "test")
    with Flask(__name__).test_request_context("/", environ_base={"REMOTE_ADDR": "10.0.0.1"}):
        with caplog.at_level(logging.WARNING, logger="chat.ratelimit"):
            for _ in range(3):
                limits.check_login("someone")
                limits.login_failed("someone")
                limits.hit_signup()
                limits.hit_post("user")
    assert "rate limit storage unavailable" in caplog.text
