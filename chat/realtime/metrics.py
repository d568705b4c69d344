"""Prometheus metrics of the whole server.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR (one directory per server,
emptied at start) before the workers import this module: every worker then keeps its
values in files there and `GET /metrics` sums them all (`render()`), so a scrape shows the
host, never the share of the worker that happened to answer it. Counters of workers that
have exited stay in the sum (totals never go backwards); gauges say how to combine
workers (`multiprocess_mode`): live ones are summed, a dead worker's are dropped when the
master reaps it (`child_exit` → `mark_process_dead`). Without that variable (`flask run`,
the CLI, unit tests) the default in-process registry is used as before.
"""

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

http_requests = Counter("chat_http_requests_total", "HTTP requests answered",
                        ["method", "status"])
http_latency = Histogram(
    "chat_http_request_duration_seconds",
    "Time to answer a request (to the first byte for event streams), by route template "
    "(the URL rule, never the raw path) and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
messages_accepted = Counter("chat_messages_accepted_total", "Messages accepted (202)")
messages_stored = Counter("chat_messages_stored_total", "Messages stored in the database")
messages_delivered = Counter("chat_messages_delivered_total",
                             "Chat messages pushed to open streams (one per stream)")
store_batches = Counter("chat_store_batches_total", "Batches committed by the processor")
store_failures = Counter("chat_store_failures_total", "Failed batch commits (retried)")
store_batch_size = Histogram(
    "chat_store_batch_size", "Messages stored per committed batch",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
last_commit = Gauge("chat_last_commit_timestamp_seconds",
                    "Unix time of the processor's last committed batch (newest of any worker)",
                    multiprocess_mode="max")
queue_depth = Gauge("chat_queue_depth", "Accepted messages waiting to be stored",
                    multiprocess_mode="livesum")
open_streams = Gauge("chat_open_streams", "Open event streams", multiprocess_mode="livesum")
db_pool_in_use = Gauge("chat_db_pool_in_use",
                       "Database connections checked out of the pools (all workers)",
                       multiprocess_mode="livesum")
slow_streams_closed = Counter("chat_slow_streams_closed_total",
                              "Streams closed because their buffer was full")
delivery_latency = Histogram(
    "chat_delivery_latency_seconds", "From acceptance of a message to its hand-off to streams",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
bus_lag = Histogram(
    "chat_bus_lag_seconds", "From publishing an event on the bus to its arrival at a worker",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

processor_restarts = Counter("chat_processor_restarts_total",
                             "Times the message processor loop failed and was restarted")
messages_refused = Counter("chat_messages_refused_total",
                           "Accepted messages the database refused (dropped, logged)")


def observe_delivery(messages):
    now = time.time()
    for message in messages:
        accepted = message.get("accepted_at")
        if accepted is not None:
            delivery_latency.observe(max(0.0, now - accepted))


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render():
    """(body, content type) of a scrape: every worker's values summed under gunicorn,
    this process's otherwise."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def watch_pool(engine):
    """Counts the engine's checked-out connections in `db_pool_in_use`."""
    from sqlalchemy import event

    @event.listens_for(engine, "checkout")
    def _checkout(*_):
        db_pool_in_use.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_):
        db_pool_in_use.dec()
