"""Sign-in and sign-out: bearer tokens and the same token in an HttpOnly cookie."""

from flask import Blueprint, g, jsonify, make_response, request
from sqlalchemy import delete

from chat import accounts
from chat.auth import COOKIE_NAME, active_account_ban, create_session, public, verify_password
from chat.errors import APIError
from chat.extensions import db
from chat.models import Session, isoformat
from chat.ratelimit import get_limits
from chat.realtime import publish
from chat.api.openapi import RETRY_AFTER, operation
from chat.schemas import Session as SessionModel, SessionCreate, parse_body
from chat.validation import json_body

bp = Blueprint("sessions", __name__)


_SET_COOKIE = {"Set-Cookie": {
    "description": "The `chat_session` cookie (HttpOnly, SameSite=Lax, Secure over https), "
                   "carrying the same token.",
    "schema": {"type": "string"}}}


@bp.post("/sessions")
@public
@operation(
    "createSession", "sessions", "Sign in",
    description="Answers the token and sets the session cookie.",
    body=SessionCreate,
    ok={201: (SessionModel, "The new session.", _SET_COOKIE)},
    errors={401: ("Wrong name or password (same answer for both).", ["invalid_credentials"]),
            403: ("The account is banned (`banned`).", ["banned"]),
            429: ("More than CHAT_LOGIN_RATE_LIMIT failed sign-ins for this name or from "
                  "this client address within the window: refused, right password or "
                  "not, until it passes.", ["rate_limited"], {"Retry-After": RETRY_AFTER})})
def create_session_view():
    credentials = parse_body(SessionCreate, json_body())
    name, password = credentials.name, credentials.password
    limits = get_limits()
    limits.check_login(name)  # before the (slow) hash: a throttled guess costs nothing
    user = accounts.user_by_name(name)
    if not verify_password(user, password):
        limits.login_failed(name)
        raise APIError(401, "invalid_credentials", "Wrong name or password")
    ban = active_account_ban(user.id)
    if ban is not None:
        raise APIError(403, "banned", "This account is banned")
    token, session = create_session(user)
    db.session.commit()
    response_body = {"token": token, "expires_at": isoformat(session.expires_at),
                     "user": user.to_dict()}
    response = jsonify(response_body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"  # it carries the token
    response.set_cookie(COOKIE_NAME, token, expires=session.expires_at, httponly=True,
                        samesite="Lax", secure=request.is_secure, path="/")
    return response


@bp.delete("/sessions/current")
@operation("deleteSession", "sessions", "Sign out",
           description="The token/cookie stops working at once and the streams opened with "
                       "it are closed.",
           ok={204: (None, "Signed out.")})
def delete_current_session():
    db.session.execute(delete(Session).where(Session.id == g.session.id))
    db.session.commit()
    publish("close", user=str(g.user.id), session=str(g.session.id), reason="signed out")
    response = make_response("", 204)
    response.delete_cookie(COOKIE_NAME, path="/", samesite="Lax", secure=request.is_secure,
                           httponly=True)
    return response
