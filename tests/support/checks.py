"""Small assertions and event predicates shared by the test folders."""

from __future__ import annotations

WAIT = 10  # seconds: the upper bound for any awaited event


def assert_error(response, status, error_code=None):
    """`status`, in API.md's error shape, with `error_code` when given."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str), body
    if error_code is not None:
        assert body["error"]["code"] == error_code, response.text


def is_chat(message_id):
    """Matches the chat-message event of `message_id`."""
    return lambda e: e.event == "message" and e.json()["id"] == message_id
