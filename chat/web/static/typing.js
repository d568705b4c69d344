// "X is typing…" (API 1.1). While I type, the room hears about it at most every
// SEND_MS (the server announces at most one per 3 s anyway); others' typing events show
// for the open room until SHOW_MS after each person's last one, or until their message
// arrives.

const SEND_MS = 2000;
const SHOW_MS = 5000;

// send(roomId) -> Promise; render(text) shows the line ("" hides it); nameOf(id, later)
// -> name or null (later(name) once known).
export function createTyping({ send, render, nameOf }) {
  let lastSent = { room: null, at: 0 };
  let roomId = null;
  const typing = new Map(); // user id -> expiry timer, for the open room

  function show() {
    const who = [...typing.keys()].map((id) => nameOf(id, show) ?? "Someone");
    render(describe(who));
  }

  function stop(userId) {
    clearTimeout(typing.get(userId));
    if (typing.delete(userId)) show();
  }

  return {
    // I typed something in the composer of `room`.
    typed(room) {
      const now = Date.now();
      if (lastSent.room === room && now - lastSent.at < SEND_MS) return;
      lastSent = { room, at: now };
      send(room).catch(() => {}); // a lost typing hint is not worth an error
    },
    // I sent a message: the next keystroke may announce again.
    sent() {
      lastSent = { room: null, at: 0 };
    },
    // A `typing` event.
    heard({ room, user }) {
      if (room !== roomId) return;
      clearTimeout(typing.get(user));
      typing.set(user, setTimeout(() => stop(user), SHOW_MS));
      show();
    },
    // Their message arrived: they stopped typing it.
    messageFrom(room, user) {
      if (room === roomId) stop(user);
    },
    // Another room opened (or none): forget who was typing.
    setRoom(room) {
      roomId = room;
      for (const timer of typing.values()) clearTimeout(timer);
      typing.clear();
      show();
    },
  };
}

export function describe(names) {
  if (!names.length) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
}
