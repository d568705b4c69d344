// The one live event stream of the signed-in user.
//
// EventSource reconnects by itself after network errors and sends Last-Event-ID, so
// the server replays what we missed. Only when it gives up (readyState CLOSED, e.g. a
// non-200 answer) do we create a new one, after a delay. A new EventSource cannot set
// headers, so it names the last message seen in the URL (?last_event_id=, API 1.1):
// that is also how a reloaded page resumes where the previous one stopped.
//
// When the browser says it went offline, the stream is closed at once (a dead
// connection can otherwise hang on for minutes, looking live) and reopened, resuming,
// as soon as it is back online.

// Events the server sends today, and the ones API 1.1 announces (handlers for those
// are optional: an event without a handler is ignored).
const NAMED_EVENTS = [
  "presence", "membership", "room", "invitation", "read", "reset",
  "edit", "delete", "reaction", "typing",
];

// handlers: onState(state), onReady(data, {resumed}), onMessage(msg, eventId), one
// function per named event (onPresence, onMembership, ...), lastEventId() -> id or
// null, and beforeReconnect() -> Promise<boolean>.
export function openStream(userId, handlers) {
  const base = `/v1/chats/users/${encodeURIComponent(userId)}/subscribe`;
  let source = null;
  let timer = null;
  let stopped = false;
  let wasLive = false;
  let delay = 1000;

  function dispatch(handler, event, ...extra) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to understand
    }
    handler?.(data, ...extra);
  }

  function connect() {
    const since = handlers.lastEventId();
    source = new EventSource(since ? `${base}?last_event_id=${encodeURIComponent(since)}` : base);
    let readyCount = 0;
    handlers.onState(wasLive ? "reconnecting" : "connecting");

    source.onmessage = (event) => dispatch(handlers.onMessage, event, event.lastEventId);
    source.addEventListener("ready", (event) => {
      // The first ready resumes from the URL's id; later ones (the browser's own
      // reconnects) from the Last-Event-ID header, or the URL's id if none came since.
      const resumed = Boolean(since) || (readyCount > 0 && event.lastEventId !== "");
      readyCount++;
      wasLive = true;
      delay = 1000;
      handlers.onState("live");
      dispatch((data) => handlers.onReady(data, { resumed }), event);
    });
    for (const name of NAMED_EVENTS) {
      const handler = handlers["on" + name[0].toUpperCase() + name.slice(1)];
      source.addEventListener(name, (event) => dispatch(handler, event));
    }
    source.onerror = () => {
      if (stopped) return;
      handlers.onState(wasLive ? "reconnecting" : "connecting");
      if (source.readyState === EventSource.CLOSED) scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (stopped) return;
      const ok = await handlers.beforeReconnect().catch(() => true);
      if (ok && !stopped) connect();
    }, delay * (0.75 + Math.random() / 2));
    delay = Math.min(delay * 2, 30000);
  }

  function offline() {
    if (stopped) return;
    clearTimeout(timer);
    source?.close();
    handlers.onState("offline");
  }

  function online() {
    if (stopped || (source && source.readyState !== EventSource.CLOSED)) return;
    clearTimeout(timer);
    delay = 1000;
    connect();
  }

  window.addEventListener("offline", offline);
  window.addEventListener("online", online);
  connect();
  return {
    // Back online: don't wait out the browser's retry delay (up to 5 s) or our backoff.
    reconnectNow() {
      if (stopped || source?.readyState === EventSource.OPEN) return;
      clearTimeout(timer);
      source?.close();
      delay = 1000;
      connect();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      source?.close();
      window.removeEventListener("offline", offline);
      window.removeEventListener("online", online);
    },
  };
}
