"""The dispatcher seam: publish an event once, every instance's handlers receive it.

Events are plain JSON-able dicts with a "type":
  log         {"from", "through", "entries": [...]}   places in the order (order.py); these go
              through the ordered feed (feed.py), never straight to the hub
  room        {"room", "action": "created", "info": Room}   a new public room
  invitation  {"invitation": Invitation}
  read        {"user", "room", "message"}
  close       {"user", "session": id|None}   end that user's streams (logout, ban, deletion)
  presence    {"user", "status": online|offline, "rooms"}   to users sharing those rooms
  typing      {"room", "user"}   to the room's other members; never stored, may be dropped

The hub subscribes to the bus; the processor, the API and presence publish to it. None of
them knows which backend carries the events: `LocalBus` here for one process,
`RedisBus` (redis_bus.py) across workers and hosts, behind the same methods.
"""

import logging

log = logging.getLogger(__name__)


class Bus:
    def __init__(self):
        self._handlers = []

    def subscribe(self, handler):
        self._handlers.append(handler)

    def publish(self, event):
        raise NotImplementedError

    def start(self):
        pass

    def stop(self):
        pass

    def check(self):
        """Raises if the bus cannot carry events right now (for /healthcheck)."""

    def _deliver(self, event):
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:  # one bad handler must not starve the others
                log.exception("bus handler failed for %s event", event.get("type"))


class LocalBus(Bus):
    """One process: publishing is handing the event to the handlers, synchronously, so a
    request that publishes after its commit has updated every local stream before it answers."""

    def publish(self, event):
        self._deliver(event)
