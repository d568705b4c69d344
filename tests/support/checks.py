"""Small assertions and event predicates shared by the test folders."""

from __future__ import annotations

WAIT = 10  # seconds: the upper bound for any awaited event


def assert_error(response, status, code=None):
    """`status` in API.md's error shape {"error": {"code", "message"}}, with `code` (one
    code or a collection of acceptable ones) when given; returns the error object."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("Content-Type", "").startswith("application/json"), \
        response.headers.get("Content-Type")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if code is not None:
        codes = {code} if isinstance(code, str) else set(code)
        assert body["error"]["code"] in codes, body
    return body["error"]


def is_chat(message_id):
    """Matches the chat-message event of `message_id`."""
    return lambda e: e.event == "message" and e.json()["id"] == message_id
