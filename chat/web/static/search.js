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

export const PAGE = 20;

// nodes: {form, input, scope, panel, list, status, more, close}; search(q, roomId|null,
// before|null) -> Promise<[Message]> (newest first, PAGE at most); currentRoom() ->
// id|null; authorName(id, later); roomLabel(id); onOpen(msg); onError(err).
export function createSearch(nodes, { search, currentRoom, authorName, roomLabel, onOpen, onError }) {
  let ticket = 0;
  let query = null; // {q, room, count, last}: the search shown, for "More results"

  function close() {
    ticket++;
    query = null;
    nodes.panel.hidden = true;
    nodes.more.hidden = true;
    nodes.list.replaceChildren();
  }

  function run() {
    const q = nodes.input.value.trim();
    if (!q) return;
    query = { q, room: nodes.scope.value === "room" ? currentRoom() : null, count: 0, last: null };
    nodes.panel.hidden = false;
    nodes.list.replaceChildren();
    return fetchPage();
  }

  // The next page of the search shown (the first one when nothing is listed yet).
  async function fetchPage() {
    const shown = query;
    const mine = ++ticket;
    nodes.more.hidden = true;
    nodes.status.textContent = "Searching…";
    let found;
    try {
      found = await search(shown.q, shown.room, shown.last);
    } catch (err) {
      if (mine !== ticket) return;
      nodes.status.textContent = "The search failed.";
      return onError(err);
    }
    if (mine !== ticket) return;
    const first = shown.count === 0;
    shown.count += found.length;
    shown.last = found.at(-1)?.id ?? shown.last;
    const full = found.length >= PAGE;
    const where = shown.room ? `in ${roomLabel(shown.room)}` : "in all your rooms";
    nodes.status.textContent = shown.count
      ? `${shown.count}${full ? "+" : ""} ${shown.count === 1 ? "message" : "messages"} ${where}`
      : `Nothing found ${where}.`;
    const items = found.map((msg) => resultItem(msg, shown.q));
    nodes.list.append(...items);
    nodes.more.hidden = !full;
    // The first new result gets the focus (after "More results", which may hide now).
    (items[0]?.querySelector("button") ?? (first ? null : nodes.input))?.focus();
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
  nodes.more.addEventListener("click", () => query && fetchPage());
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
