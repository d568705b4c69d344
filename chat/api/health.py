"""Operations: health, the OpenAPI document, Prometheus metrics. No sign-in needed."""

import logging

from flask import Blueprint, Response
from sqlalchemy import text

from chat.api.openapi_spec import build_spec
from chat.auth import public
from chat.extensions import db
from chat.realtime import get_realtime
from chat.realtime import metrics as chat_metrics

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthcheck")
@public
def healthcheck():
    status = {"status": "ok", "database": "ok", "bus": "ok", "processor": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.commit()
    except Exception:
        log.warning("healthcheck: database unreachable", exc_info=True)
        db.session.rollback()
        status["database"] = status["status"] = "unavailable"
    try:
        get_realtime().bus.check()
    except Exception:
        log.warning("healthcheck: bus unreachable", exc_info=True)
        status["bus"] = status["status"] = "unavailable"
    status["processor"] = get_realtime().processor.health()
    if status["processor"] != "ok":
        status["status"] = "unavailable"
    return status, 200 if status["status"] == "ok" else 503


_spec = None


@bp.get("/openapi.json")
@public
def openapi():
    global _spec
    if _spec is None:
        _spec = build_spec()
    return _spec


@bp.get("/metrics")
@public
def metrics():
    body, content_type = chat_metrics.render()  # every gunicorn worker, summed
    return Response(body, content_type=content_type)
