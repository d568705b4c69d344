// Per-room message lists: deduplicated by id, kept in stream/history order
// (the server guarantees both are the same stored order).

export function createStore() {
  return { messages: [], ids: new Set(), loaded: false, hasMore: true, loading: false };
}

// A message from the live stream goes last, unless we already have it.
export function appendLive(store, msg) {
  if (store.ids.has(msg.id)) return false;
  store.messages.push(msg);
  store.ids.add(msg.id);
  return true;
}

// Merges a chronological history page into the list. Messages we already hold act
// as anchors: each new message goes right after the page message preceding it.
// New messages before the first anchor (or a page sharing nothing with the list,
// such as an older page) go first.
export function mergeHistory(store, page) {
  const after = new Map(); // anchor id, or null for "at the start" -> new messages
  let anchor = null;
  for (const msg of page) {
    if (store.ids.has(msg.id)) {
      anchor = msg.id;
      continue;
    }
    if (!after.has(anchor)) after.set(anchor, []);
    after.get(anchor).push(msg);
    store.ids.add(msg.id);
  }
  const merged = [...(after.get(null) ?? [])];
  for (const msg of store.messages) merged.push(msg, ...(after.get(msg.id) ?? []));
  store.messages = merged;
}
