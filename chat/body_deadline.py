"""A deadline for reading a request's body.

gunicorn bounds how long a client may take to send its headers (the gevent worker reads
them under its keep-alive timeout), but the body is read by the application, as slowly as
the client sends it: ten thousand clients dripping a byte every few seconds would hold
every connection slot of a worker and the memory of their greenlets. This middleware
reads the whole body (at most MAX_CONTENT_LENGTH + 1 bytes) up front, within
CHAT_BODY_TIMEOUT_SECONDS; a client that is slower gets `408` and its connection closed.
"""

import io
import json

import gevent

TIMEOUT_BODY = json.dumps({"error": {
    "code": "request_timeout",
    "message": "The request body took too long to arrive"}}).encode()


class BodyDeadline:
    def __init__(self, wsgi_app, seconds, max_bytes):
        self.wsgi_app = wsgi_app
        self.seconds = seconds
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and length in (None, "", "0"):
            return self.wsgi_app(environ, start_response)  # no body to wait for
        try:
            limit = self.max_bytes + 1  # one more than allowed: the app answers 413
            if not chunked:
                limit = min(limit, max(int(length), 0))
        except ValueError:
            return self.wsgi_app(environ, start_response)  # the app refuses it
        try:
            with gevent.Timeout(self.seconds):
                body = _read(environ["wsgi.input"], limit)
        except gevent.Timeout:
            start_response("408 Request Timeout", [
                ("Content-Type", "application/json"), ("Connection", "close"),
                ("Content-Length", str(len(TIMEOUT_BODY)))])
            return [TIMEOUT_BODY]
        environ["wsgi.input"] = io.BytesIO(body)
        if chunked:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = True
        return self.wsgi_app(environ, start_response)


def _read(stream, limit):
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(65536, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
