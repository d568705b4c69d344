"""Prometheus metrics of this worker (each gunicorn worker counts its own)."""

import time

from prometheus_client import Counter, Gauge, Histogram

http_requests = Counter("chat_http_requests_total", "HTTP requests answered",
                        ["method", "status"])
messages_accepted = Counter("chat_messages_accepted_total", "Messages accepted (202)")
messages_stored = Counter("chat_messages_stored_total", "Messages stored in the database")
messages_delivered = Counter("chat_messages_delivered_total",
                             "Chat messages pushed to open streams (one per stream)")
store_batches = Counter("chat_store_batches_total", "Batches committed by the processor")
store_failures = Counter("chat_store_failures_total", "Failed batch commits (retried)")
queue_depth = Gauge("chat_queue_depth", "Accepted messages waiting to be stored")
open_streams = Gauge("chat_open_streams", "Open event streams")
slow_streams_closed = Counter("chat_slow_streams_closed_total",
                              "Streams closed because their buffer was full")
delivery_latency = Histogram(
    "chat_delivery_latency_seconds", "From acceptance of a message to its hand-off to streams",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def observe_delivery(messages):
    now = time.time()
    for message in messages:
        accepted = message.get("accepted_at")
        if accepted is not None:
            delivery_latency.observe(max(0.0, now - accepted))
processor_restarts = Counter("chat_processor_restarts_total",
                             "Times the message processor loop failed and was restarted")
messages_refused = Counter("chat_messages_refused_total",
                           "Accepted messages the database refused (dropped, logged)")
