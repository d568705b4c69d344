"""Real-time delivery: the processor stores accepted messages, the bus carries events,
the hub hands them to open streams. `init_app` wires one set per app; `start` runs the
background work (per worker, after fork: gunicorn.conf.py calls it, and the first request
that needs it does too)."""

import logging

from flask import current_app

from chat.realtime.bus import LocalBus
from chat.realtime.hub import Hub
from chat.realtime.presence import Presence
from chat.realtime.processor import MessageProcessor

log = logging.getLogger(__name__)


class Realtime:
    def __init__(self, app):
        config = app.config
        self.bus = LocalBus()
        self.hub = Hub(config["CHAT_MAX_STREAMS_PER_USER"], config["CHAT_STREAM_BUFFER"])
        self.presence = Presence(self.hub, config["CHAT_PRESENCE_GRACE_SECONDS"])
        self.processor = MessageProcessor(app, self.bus.publish, config["CHAT_QUEUE_SIZE"],
                                          config["CHAT_BATCH_SIZE"])
        self.bus.subscribe(self.hub.handle)
        self._started = False

    def start(self):
        if self._started:
            return
        self._started = True
        self.bus.start()
        self.processor.start()

    def publish(self, event):
        self.bus.publish(event)

    def shutdown(self, timeout=None):
        """Graceful stop: end every stream (clients reconnect elsewhere and resume), stop
        intake, and store everything already accepted."""
        log.info("realtime shutdown: closing %d streams, draining the queue",
                 self.hub.stream_count())
        self.hub.close_all("server shutting down")
        self.processor.stop(timeout)
        self.presence.cancel_timers()
        self.bus.stop()


def init_app(app):
    app.extensions["realtime"] = Realtime(app)


def get_realtime():
    """This app's realtime set, started on first use (idempotent)."""
    realtime = current_app.extensions["realtime"]
    realtime.start()
    return realtime


def publish(event_type, **payload):
    # Publishing needs no background work running (CLI commands publish too).
    current_app.extensions["realtime"].publish({"type": event_type, **payload})
