// The one live event stream of the signed-in user.
//
// EventSource reconnects by itself after network errors and sends Last-Event-ID,
// so the server can replay what we missed. Only when it gives up (readyState
// CLOSED, e.g. a non-200 answer) do we create a new one, after a delay; a new
// EventSource cannot resume, so its `ready` is reported as not resumed.

const NAMED_EVENTS = ["presence", "membership", "room", "invitation", "read", "reset"];

// handlers: onState(state), onReady(data, {resumed}), onMessage(msg), one function per
// named event (onPresence, onMembership, ...), and beforeReconnect() -> Promise<boolean>.
export function openStream(userId, handlers) {
  const url = `/v1/chats/users/${encodeURIComponent(userId)}/subscribe`;
  let source = null;
  let timer = null;
  let stopped = false;
  let wasLive = false;
  let delay = 1000;

  function dispatch(handler, event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to understand
    }
    handler?.(data);
  }

  function connect() {
    source = new EventSource(url);
    let readyCount = 0;
    handlers.onState(wasLive ? "reconnecting" : "connecting");

    source.onmessage = (event) => dispatch(handlers.onMessage, event);
    source.addEventListener("ready", (event) => {
      // Resumed only if this same EventSource reconnected with a Last-Event-ID.
      const resumed = readyCount++ > 0 && event.lastEventId !== "";
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

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}
