"""Operations: health, the OpenAPI document, Prometheus metrics. No sign-in needed."""

import logging

from flask import Blueprint, Response, current_app
from sqlalchemy import text

from chat.api.openapi import build_spec, operation
from chat.auth import public
from chat.extensions import db
from chat.realtime import get_realtime
from chat.realtime import metrics as chat_metrics
from chat.schemas import HealthOk

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthcheck")
@public
@operation("healthcheck", "operations", "Health", database=False,
           ok={200: (HealthOk, "Healthy."),
               503: ({"anyOf": [{"$ref": "#/components/schemas/Health"},
                                {"$ref": "#/components/schemas/Error"}]},
                     "The database or the broker is unreachable, or the processor has "
                     "stalled; the body names the failing part (Health with that part not "
                     "\"ok\", or the Error shape).")})
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


@bp.get("/openapi.json")
@public
@operation("getOpenAPI", "operations", "This document", database=False,
           ok={200: ({"type": "object", "required": ["openapi", "info", "paths"]},
                     "The OpenAPI 3.1 document, generated from the routes and their models.")})
def openapi():
    # Built from this app's url_map once, on first use.
    spec = current_app.extensions.get("chat.openapi")
    if spec is None:
        spec = current_app.extensions["chat.openapi"] = build_spec(current_app)
    return spec


@bp.get("/metrics")
@public
@operation("getMetrics", "operations", "Prometheus metrics",
           description="Requests, messages accepted/stored/delivered, queue depth, open "
                       "streams, delivery latency.",
           database=False,
           ok={200: {"description": "Prometheus text exposition format.",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics():
    body, content_type = chat_metrics.render()  # every gunicorn worker, summed
    return Response(body, content_type=content_type)
