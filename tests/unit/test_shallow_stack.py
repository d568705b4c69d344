"""A stream's response is built in a greenlet that has ended by the time the connection's
greenlet gets it (chat/shallow_stack.py); other requests run as they are."""

import gevent
import pytest

from chat import shallow_stack
from chat.shallow_stack import ShallowStack


@pytest.fixture(autouse=True)
def under_gevent(monkeypatch):
    monkeypatch.setattr(shallow_stack.monkey, "is_module_patched", lambda name: True)


def recording_app(seen):
    def app(environ, start_response):
        seen.append(gevent.getcurrent())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"body"]
    return app


def call(app, path, method="GET"):
    statuses = []
    body = app({"REQUEST_METHOD": method, "PATH_INFO": path},
               lambda status, headers: statuses.append(status))
    return statuses, body


def test_a_stream_is_built_in_a_greenlet_that_has_ended():
    seen = []
    statuses, body = call(ShallowStack(recording_app(seen)), "/v1/chats/users/x/subscribe")
    assert (statuses, body) == (["200 OK"], [b"body"])
    [builder] = seen
    assert builder is not gevent.getcurrent()
    assert builder.dead


@pytest.mark.parametrize("method, path", [("GET", "/v1/chats/rooms"),
                                          ("POST", "/v1/chats/users/x/subscribe")])
def test_other_requests_run_in_the_callers_greenlet(method, path):
    seen = []
    call(ShallowStack(recording_app(seen)), path, method)
    assert seen == [gevent.getcurrent()]


def test_an_error_of_the_application_reaches_the_caller():
    def failing(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        call(ShallowStack(failing), "/v1/chats/users/x/subscribe")


def test_a_caller_killed_while_waiting_stops_the_builder():
    started, finished = [], []

    def slow(environ, start_response):
        started.append(gevent.getcurrent())
        gevent.sleep(10)
        finished.append(True)

    caller = gevent.spawn(call, ShallowStack(slow), "/v1/chats/users/x/subscribe")
    gevent.sleep(0.01)
    assert started
    caller.kill()
    gevent.sleep(0.01)
    [builder] = started
    assert caller.dead and builder.dead and not finished
