// Where the person is, kept across reloads and sign-ins:
// - the open room lives in the URL (#/rooms/<id>) so back/forward and reload keep it;
// - the last room per user (localStorage) reopens after signing in again;
// - the last chat message seen on the stream, per user and per tab (sessionStorage),
//   lets a reloaded page resume its stream with ?last_event_id= instead of missing
//   what was posted during the reload;
// - a "signed in" hint (localStorage) tells the page whether asking GET /users/me is
//   worth it: the session cookie is HttpOnly, and a signed-out page asking anyway
//   gets a 401 that the browser logs as an error.

const PREFIX = "chatterly:";

// Storage can throw (disabled, full, private mode); the page works without it.
function read(storage, key) {
  try {
    return storage.getItem(PREFIX + key);
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null || value === undefined) storage.removeItem(PREFIX + key);
    else storage.setItem(PREFIX + key, value);
  } catch {
    // not kept: the page only loses continuity
  }
}

const ROOM_HASH = /^#\/rooms\/([0-9a-fA-F-]{36})$/;

// The room the URL names, or null.
export function roomFromUrl() {
  return ROOM_HASH.exec(location.hash)?.[1] ?? null;
}

// Puts `roomId` (null: none) in the URL. A new history entry, so Back returns to the
// previous room, unless `replace` (used when the page corrects the URL by itself).
export function setUrlRoom(roomId, { replace = false } = {}) {
  const hash = roomId ? `#/rooms/${roomId}` : "";
  if ((location.hash || "") === hash) return;
  const url = hash || location.pathname + location.search;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

export const lastRoom = {
  get: (userId) => read(localStorage, `last-room:${userId}`),
  set: (userId, roomId) => write(localStorage, `last-room:${userId}`, roomId),
};

export const lastEventId = {
  get: (userId) => read(sessionStorage, `last-event:${userId}`),
  set: (userId, messageId) => write(sessionStorage, `last-event:${userId}`, messageId),
};

export const signedInHint = {
  get: () => read(localStorage, "signed-in") === "1",
  set: (on) => write(localStorage, "signed-in", on ? "1" : null),
};

// My messages not yet accepted by the server, in typed order, per user and tab: a
// reload (or a crash of the tab's page) while offline must not lose what I typed.
// They keep their ids, so sending them again can never store one twice.
export const unsent = {
  get(userId) {
    try {
      const list = JSON.parse(read(sessionStorage, `unsent:${userId}`) ?? "[]");
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  },
  set: (userId, list) =>
    write(sessionStorage, `unsent:${userId}`, list.length ? JSON.stringify(list) : null),
};
