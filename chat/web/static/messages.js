// Per-room message lists: deduplicated by id, kept in stream/history order
// (the server guarantees both are the same stored order).
//
// A store usually holds the newest messages and grows backwards (older pages). Jumping to
// an old message (a search result, a reply's original) may load a window around it
// instead: then `hasNewer` is true, live messages wait on the server, and newer pages
// load with `after` cursors until the window meets the present again.
//
// Edits, deletions and reactions (API 1.1) change messages in place. Each may arrive
// twice (the stream's replay after a resume); applying one again changes nothing.

import { applyReactionEvent } from "./reactions.js";

export function createStore() {
  return {
    messages: [], ids: new Set(), deleted: new Set(),
    loaded: false, hasMore: true, hasNewer: false, loading: false,
    // Changes to messages not held yet, while a page is loading: the page may have been
    // answered before them, so they apply again as it merges (applying twice is harmless).
    early: new Map(), // message id -> [fn(msg) -> msg]
  };
}

function rememberEarly(store, messageId, change) {
  if (!store.loading) return;
  if (!store.early.has(messageId)) store.early.set(messageId, []);
  store.early.get(messageId).push(change);
}

function withEarly(store, msg) {
  const changes = store.early.get(msg.id);
  if (!changes) return msg;
  store.early.delete(msg.id);
  return changes.reduce((current, change) => change(current), msg);
}

export const findMessage = (store, id) => store?.messages.find((msg) => msg.id === id) ?? null;

// A message from the live stream goes last, unless we already have it (or it was
// deleted meanwhile, or the store is a window of the past that it does not belong to).
// True when it is new to us.
export function appendLive(store, msg) {
  if (store.ids.has(msg.id) || store.deleted.has(msg.id)) return false;
  if (store.hasNewer) { // joins once the newer pages reach the present
    store.later ??= [];
    if (store.later.some((held) => held.id === msg.id)) return false;
    store.later.push(msg);
    return true;
  }
  store.messages.push(msg);
  store.ids.add(msg.id);
  return true;
}

// Merges a chronological history page into the list. Messages we already hold act
// as anchors: each new message goes right after the page message preceding it.
// New messages before the first anchor (or a page sharing nothing with the list,
// such as an older page) go first. Messages we already hold stay as they are: the
// stream's edit and reaction events keep them current, and a page answered before one of
// those events must not take it back.
export function mergeHistory(store, page) {
  const after = new Map(); // anchor id, or null for "at the start" -> new messages
  let anchor = null;
  for (const msg of page) {
    if (store.deleted.has(msg.id)) continue;
    if (store.ids.has(msg.id)) {
      anchor = msg.id;
      continue;
    }
    if (!after.has(anchor)) after.set(anchor, []);
    after.get(anchor).push(withEarly(store, msg));
    store.ids.add(msg.id);
  }
  const merged = [...(after.get(null) ?? [])];
  for (const msg of store.messages) merged.push(msg, ...(after.get(msg.id) ?? []));
  store.messages = merged;
}

// A page loaded with `after` = the last message held: it goes at the end.
export function appendNewer(store, page) {
  for (const msg of page) {
    if (store.ids.has(msg.id) || store.deleted.has(msg.id)) continue;
    store.messages.push(withEarly(store, msg));
    store.ids.add(msg.id);
  }
}

// Applies `change` (msg -> msg) to a held message: in the list, among the live ones
// waiting for a window of the past to catch up, or (while a page loads) once the page
// brings it. True if the list changed.
function change(store, messageId, fn) {
  if (!store) return false;
  const index = store.messages.findIndex((held) => held.id === messageId);
  if (index >= 0) {
    const before = store.messages[index];
    const after = fn(before);
    store.messages[index] = after;
    return after !== before;
  }
  const waiting = store.later?.findIndex((held) => held.id === messageId) ?? -1;
  if (waiting >= 0) store.later[waiting] = fn(store.later[waiting]);
  else rememberEarly(store, messageId, fn);
  return false;
}

// The message as it is now (an `edit` event or the PATCH answer). True if it changed.
export function applyEdit(store, msg) {
  return change(store, msg.id, (held) => {
    if (held.message === msg.message && held.edited_at === msg.edited_at
        && JSON.stringify(held.reactions) === JSON.stringify(msg.reactions)) return held;
    return { ...held, ...msg };
  });
}

// True if the store held it.
export function applyDelete(store, messageId) {
  if (!store) return false;
  store.deleted.add(messageId);
  if (store.later) store.later = store.later.filter((msg) => msg.id !== messageId);
  if (!store.ids.delete(messageId)) return false;
  store.messages = store.messages.filter((msg) => msg.id !== messageId);
  return true;
}

// A `reaction` event {message, emoji, user, action}. True if it changed anything.
export function applyReaction(store, event) {
  return change(store, event.message, (held) => {
    const reactions = applyReactionEvent(held.reactions ?? [], event);
    return reactions === held.reactions ? held : { ...held, reactions };
  });
}
