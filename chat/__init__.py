"""The chat server: `create_app()` builds a configured Flask app."""

import logging
import os
import time

from flask import Flask, g, request
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from chat import api, cli, config, errors, ratelimit, realtime
from chat.auth import authenticate
from chat.body_deadline import BodyDeadline
from chat.extensions import db, migrate
from chat.realtime import metrics
from chat.shallow_stack import ShallowStack
from chat.validation import UUIDConverter


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.from_environment(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    if test_config:
        app.config.update(test_config)
    app.config["SQLALCHEMY_DATABASE_URI"] = config.normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"])
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config))
    app.json.sort_keys = False
    # A PaaS router terminates TLS: trust its X-Forwarded-* so cookies get `Secure`.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.wsgi_app = BodyDeadline(app.wsgi_app, app.config["CHAT_BODY_TIMEOUT_SECONDS"],
                                app.config["MAX_CONTENT_LENGTH"])
    app.wsgi_app = ShallowStack(app.wsgi_app)  # outermost: all of an open runs inside
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    with app.app_context():
        _tune_engine(db.engine)
        metrics.watch_pool(db.engine)
    app.url_map.converters["uid"] = UUIDConverter
    errors.init_app(app)
    ratelimit.init_app(app)
    realtime.init_app(app)
    api.init_app(app, authenticate)
    from chat.apidocs import bp as apidocs_bp
    from chat.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(apidocs_bp)
    cli.init_app(app)
    # App-wide hooks run before the blueprints' (authentication), so the time is complete.
    app.before_request(_start_timer)
    app.after_request(_count_request)
    return app


POOL_OVERFLOW = 2


def _engine_options(cfg):
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # sqlite3 waits for a lock inside C code, freezing the whole gevent worker: keep the
        # wait short and let the processor retry (cooperatively) instead.
        return {"connect_args": {"timeout": 1}}
    # DATABASE_POOL_SIZE connections per worker, plus a small overflow for bursts: every
    # worker of every host holds up to pool + overflow, and all of them together must stay
    # under the database's max_connections (README, "Database connections"). Requests hold
    # a connection only for their queries (streams give theirs back at once), so a few per
    # worker serve thousands of streams.
    # Recycling old connections instead of pinging before every checkout saves a round
    # trip per request; a connection that died anyway fails that request with 503.
    return {"pool_recycle": 300, "pool_size": cfg["DATABASE_POOL_SIZE"],
            "max_overflow": POOL_OVERFLOW, "pool_timeout": 10}


def _tune_engine(engine):
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE / SET NULL need it
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the processor
        cursor.execute("PRAGMA busy_timeout=1000")
        cursor.close()


def _start_timer():
    g.request_started = time.perf_counter()


def _count_request(response):
    metrics.http_requests.labels(request.method, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        # The route template (`/v1/chats/rooms/<uid:room_id>`), never the raw path: one
        # series per endpoint, not one per room id. No rule matched: 404/405.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.http_latency.labels(route, request.method).observe(
            time.perf_counter() - started)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
