"""One JSON error shape for everything: our own refusals and the framework's."""

import logging
import secrets

from flask import jsonify
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from chat.extensions import db

log = logging.getLogger(__name__)

# Framework errors mapped to the stable codes of API.md.
_HTTP_CODES = {
    400: "invalid_json",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    503: "overloaded",
}


class APIError(HTTPException):
    """A refusal with a stable `code`; an HTTPException so it can be raised anywhere,
    even from URL converters during routing."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.extra_headers = headers or {}


def error_response(status, code, message, headers=None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def bad_request(message, code="validation_error"):
    return APIError(400, code, message)


def not_found(message="Not found"):
    return APIError(404, "not_found", message)


def forbidden(message="Forbidden", code="forbidden"):
    return APIError(403, code, message)


def conflict(message, code="conflict"):
    return APIError(409, code, message)


def _handle_api_error(err):
    return error_response(err.code, err.error_code, err.description, err.extra_headers)


def _handle_http_exception(err):
    code = _HTTP_CODES.get(err.code, "error")
    headers = {}
    if err.code == 405 and err.valid_methods:
        headers["Allow"] = ", ".join(sorted(err.valid_methods))
    message = err.description or err.name
    if err.code == 400:
        message = "The request body is not valid JSON"
    elif err.code == 404:
        message = "No such resource"
    elif err.code == 413:
        message = "The request body is larger than 64 KiB"
    return error_response(err.code, code, message, headers)


def _handle_database_unavailable(err):
    log.error("database unavailable: %s", err)
    try:
        db.session.rollback()
    except Exception:
        pass
    return error_response(503, "overloaded", "The database is unavailable; retry shortly",
                          {"Retry-After": "3"})


def _handle_pool_timeout(err):
    # Every pooled connection stayed busy for pool_timeout: the worker is overloaded (a
    # reconnect storm), not broken. A 500 here told clients to give up; 503 with
    # Retry-After tells them to come back, and the log needs no traceback per request.
    log.warning("database pool exhausted: %s", err)
    try:
        db.session.rollback()
    except Exception:
        pass
    return error_response(503, "overloaded", "The server is busy; retry shortly",
                          {"Retry-After": "2"})


def _handle_unexpected(err):
    # Roll back so the connection goes back to the pool clean, then hide the details.
    request_id = secrets.token_hex(8)  # quoted to the client, so a report finds the log
    log.exception("unhandled error (request id %s)", request_id)
    try:
        db.session.rollback()
    except Exception:  # pragma: no cover - the database may be the thing that failed
        log.exception("rollback failed")
    return error_response(500, "internal_error",
                          f"Internal server error (request id {request_id})")


def init_app(app):
    app.register_error_handler(APIError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(OperationalError, _handle_database_unavailable)
    app.register_error_handler(InterfaceError, _handle_database_unavailable)
    app.register_error_handler(PoolTimeout, _handle_pool_timeout)
    app.register_error_handler(Exception, _handle_unexpected)
