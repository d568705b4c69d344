// Message search (API 1.1, GET /search/messages): the header's box searches the open
// room or all my rooms; results show author, room, time and the text with the matched
// words marked; choosing one opens the room at that message.

import { el } from "./render.js";

const WORD = /[\p{L}\p{N}]+/gu;

// Text nodes and <mark>s: every word of `text` that is a word of `query` (the last one
// may be a prefix, as the server matches it), case-insensitively.
export function markMatches(text, query) {
  const words = (query.toLowerCase().match(WORD) ?? []);
  const last = words.at(-1);
  const exact = new Set(words);
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(WORD)) {
    const word = match[0].toLowerCase();
    if (!exact.has(word) && !(last && word.startsWith(last))) continue;
    if (match.index > at) parts.push(document.createTextNode(text.slice(at, match.index)));
    parts.push(el("mark", {}, match[0]));
    at = match.index + match[0].length;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  return parts;
}

// nodes: {form, input, scope, panel, list, status, close}; search(q, roomId|null) ->
// Promise<[Message]>; currentRoom() -> id|null; authorName(id, later); roomLabel(id);
// onOpen(msg); onError(err).
export function createSearch(nodes, { search, currentRoom, authorName, roomLabel, onOpen, onError }) {
  let ticket = 0;

  function close() {
    ticket++;
    nodes.panel.hidden = true;
    nodes.list.replaceChildren();
  }

  async function run() {
    const q = nodes.input.value.trim();
    if (!q) return;
    const room = nodes.scope.value === "room" ? currentRoom() : null;
    const mine = ++ticket;
    nodes.panel.hidden = false;
    nodes.status.textContent = "Searching…";
    nodes.list.replaceChildren();
    let found;
    try {
      found = await search(q, room);
    } catch (err) {
      if (mine !== ticket) return;
      nodes.status.textContent = "The search failed.";
      return onError(err);
    }
    if (mine !== ticket) return;
    const where = room ? `in ${roomLabel(room)}` : "in all your rooms";
    nodes.status.textContent = found.length
      ? `${found.length}${found.length >= 20 ? "+" : ""} ${found.length === 1 ? "message" : "messages"} ${where}`
      : `Nothing found ${where}.`;
    nodes.list.replaceChildren(...found.map((msg) => resultItem(msg, q)));
    nodes.list.querySelector("button")?.focus();
  }

  function resultItem(msg, q) {
    const author = el("span", { class: "author" });
    author.textContent = authorName(msg.user, (name) => (author.textContent = name)) ?? "…";
    const time = el("time", { dateTime: msg.created_at }, new Date(msg.created_at).toLocaleString([], {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    }));
    return el("li", {},
      el("button", {
        type: "button", class: "search-result", "data-testid": "search-result", "data-message-id": msg.id,
        "data-room-id": msg.room,
        onclick: () => {
          close();
          onOpen(msg);
        },
      },
      el("span", { class: "meta" }, author, " in ", el("span", { class: "room-ref" }, roomLabel(msg.room)), " · ", time),
      el("span", { class: "text" }, ...markMatches(msg.message.slice(0, 300), q))));
  }

  nodes.form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  nodes.close.addEventListener("click", () => {
    close();
    nodes.input.focus();
  });
  const escape = (event) => {
    if (event.key !== "Escape" || nodes.panel.hidden) return;
    event.preventDefault();
    close();
    nodes.input.focus();
  };
  nodes.panel.addEventListener("keydown", escape);
  nodes.form.addEventListener("keydown", escape);
  return { close };
}
