"""Passwords, session tokens, and the check that sets `g.user` on every API request."""

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, g, request
from sqlalchemy import bindparam, select
from werkzeug.security import check_password_hash, generate_password_hash

from chat.errors import APIError
from chat.validation import check_request_text
from chat.extensions import db
from chat.models import Ban, Session, User, utc, utcnow

COOKIE_NAME = "chat_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Verified against when the name is unknown, so both failures cost the same time.
_dummy_hash = None


def _off_the_loop(function, *args):
    """Run CPU-heavy `function` (a password KDF: tens of ms of pure C) in gevent's thread
    pool when the worker is monkey-patched, so the hub keeps serving other requests and
    stream keepalives meanwhile; directly otherwise (CLI, unit tests, `flask run`).
    hashlib's scrypt and pbkdf2 release the GIL, so the pool thread really runs beside
    the hub."""
    if _gevent_patched():
        import gevent

        return gevent.get_hub().threadpool.apply(function, args)
    return function(*args)


def _gevent_patched():
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return monkey.is_module_patched("threading")


def hash_password(password):
    return _off_the_loop(generate_password_hash, password,
                         current_app.config["PASSWORD_HASH_METHOD"])


def verify_password(user, password):
    global _dummy_hash
    if user is None or user.password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = hash_password("not-a-real-password")
        _off_the_loop(check_password_hash, _dummy_hash, password)
        return False
    return _off_the_loop(check_password_hash, user.password_hash, password)


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(user):
    """A new random token (256 bits); only its hash is stored."""
    token = secrets.token_urlsafe(32)
    days = current_app.config["CHAT_SESSION_DAYS"]
    session = Session(user_id=user.id, token_hash=token_hash(token),
                      expires_at=utcnow() + timedelta(days=days))
    db.session.add(session)
    return token, session


def active_account_ban(user_id):
    bans = db.session.scalars(
        select(Ban).where(Ban.user_id == user_id, Ban.room_id.is_(None))
    ).all()
    return next((ban for ban in bans if ban.is_active()), None)


def public(view):
    """Marks a view that needs no signed-in user."""
    view.public = True
    return view


def caller_from_memory(view):
    """Marks a hot view that needs only the caller's id, name and admin flag: its session
    may be answered from memory (chat/realtime/access_memory.py), and `g.user` is then a Caller,
    `g.session` a SessionRef, not rows it could change."""
    view.caller_from_memory = True
    return view


def _request_token():
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip(), "bearer"
        return None, None
    token = request.cookies.get(COOKIE_NAME)
    return (token, "cookie") if token else (None, None)


def _same_origin(origin):
    # Scheme, host and port: http://example.com is another origin than https://example.com
    # (a page on the plain-http site must not write with the https site's cookie).
    parts = urlsplit(origin)
    return parts.scheme.lower() == request.scheme and \
        parts.netloc.lower() == request.host.lower()


# Built once: constructing the statement cost more CPU than running it, on every request.
_SESSION_BY_TOKEN = (select(Session, User).join(User, User.id == Session.user_id)
                     .where(Session.token_hash == bindparam("token_hash")))


def authenticate():
    """before_request hook of the API: routing errors first (so a malformed path id is a
    400 even for strangers), then the caller, then the cross-site check for cookies."""
    check_request_text()
    if request.routing_exception is not None:
        raise request.routing_exception
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "public", False):
        return
    token, via = _request_token()
    if token is None:
        raise APIError(401, "unauthenticated", "Sign in first")
    hashed = token_hash(token)
    if getattr(view, "caller_from_memory", False):
        session, user = _session_from_memory(hashed)
    else:
        session, user = _session_from_database(hashed)
    if via == "cookie" and request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        if origin and not _same_origin(origin):
            raise APIError(403, "forbidden", "Cross-site request refused")
    g.session, g.user = session, user


def _session_from_database(hashed):
    row = db.session.execute(_SESSION_BY_TOKEN, {"token_hash": hashed}).first()
    if row is None or utc(row.Session.expires_at) <= utcnow():
        raise APIError(401, "unauthenticated", "The session is invalid or has expired")
    return row.Session, row.User


def _session_from_memory(hashed):
    """Only the hot routes remember sessions, and only once they have been used there:
    a session that an operator (or a test) expires in the database before its first
    post or typing call is refused at once, as every other route refuses it."""
    memory = current_app.extensions["realtime"].access
    known = memory.session(hashed)
    if known is not None:
        return known
    epoch = memory.epoch  # before the read: a sign-out during it must win
    session, user = _session_from_database(hashed)
    memory.keep_session(hashed, session, user, epoch)
    return session, user
