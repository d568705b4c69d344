// The message timeline: everything about how messages look lives here, so that
// edits, deletions, reactions, replies and mentions can be added in one place.
//
// User text only ever reaches the page as text nodes (and links built with DOM APIs
// whose href was parsed and checked), never as HTML.

import { el } from "./render.js";

const GROUP_MS = 5 * 60 * 1000; // one author's messages closer than this form a group

// ---------------------------------------------------------------- text and links

// http(s) URLs only; `javascript:`, `data:` and the like stay plain text.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"]+$/;

// Punctuation that ends a sentence is not part of the link; a closing parenthesis is
// only kept when the URL opened one (as in Wikipedia links).
function trimUrl(candidate) {
  let url = candidate.replace(TRAILING, "");
  while (/[)\]}]$/.test(url)) {
    const close = url.at(-1);
    const open = { ")": "(", "]": "[", "}": "{" }[close];
    if (url.split(open).length >= url.split(close).length) break;
    url = url.slice(0, -1).replace(TRAILING, "");
  }
  return url;
}

function safeHref(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// Text nodes and <a> elements for `text`; their textContent together is exactly `text`.
export function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    if (!href) continue;
    if (match.index > last) parts.push(document.createTextNode(text.slice(last, match.index)));
    parts.push(el("a", { href, target: "_blank", rel: "noopener noreferrer", "data-testid": "message-link" }, url));
    last = match.index + url.length;
  }
  if (last < text.length) parts.push(document.createTextNode(text.slice(last)));
  return parts;
}

// ---------------------------------------------------------------- dates

const dayKey = (date) => `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;

export function dayLabel(date, now = new Date()) {
  if (dayKey(date) === dayKey(now)) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (dayKey(date) === dayKey(yesterday)) return "Yesterday";
  const options = { weekday: "long", month: "long", day: "numeric" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString([], options);
}

function setTime(node, iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return;
  node.dateTime = iso;
  node.title = date.toLocaleString();
  node.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// ---------------------------------------------------------------- one message

const STATUS_TEXT = {
  sending: "sending…",
  sent: "sending…", // accepted; waits for the stream like any other message
  waiting: "not sent yet, retrying…",
  failed: "not sent",
};

// ctx: {mine, me, authorName(id, later), onRetry(msg), onDiscard(msg), replyTarget(id,
// later), onQuote(msg), tools (message_actions.js), reactions (reactions.js)}.
export function messageNode(msg, ctx) {
  const author = el("span", { class: "author", "data-testid": "message-author" });
  author.textContent = ctx.authorName(msg.user, (name) => (author.textContent = name)) ?? "…";
  const node = el(
    "li",
    { class: ctx.mine ? "message mine" : "message", "data-testid": "message", "data-message-id": msg.id },
    el("div", { class: "reply-slot" }),
    el("div", { class: "meta" },
      author, " ", el("time", { class: "time" }), " ",
      el("span", { class: "visually-hidden mention-note" }),
      el("span", { class: "status", "data-testid": "message-status" }),
      el("span", { class: "message-actions" })),
    // "(edited)" follows the text, so that it shows in a group's continued messages too.
    el("div", { class: "body" },
      el("div", { class: "text", "data-testid": "message-text" }),
      el("span", { class: "edited", "data-testid": "message-edited", hidden: true }, "(edited)")),
    el("div", { class: "reactions", "data-testid": "reactions" }),
  );
  updateMessage(node, msg, null, ctx);
  return node;
}

// What the node shows, as one string: it is rebuilt only when this changes.
function viewKey(msg, delivery, quote, ctx) {
  return JSON.stringify([delivery, msg.error ?? "", msg.message, msg.edited_at ?? "",
    msg.reactions ?? [], mentionsMe(msg, ctx), quote]);
}

const mentionsMe = (msg, ctx) => Boolean(ctx.me && msg.mentions?.includes(ctx.me));

// Brings an existing node in line with `msg`; `delivery` is null once the stream
// confirmed it, else the outbox state (sending, sent, waiting, failed).
export function updateMessage(node, msg, delivery, ctx) {
  node.chatMessage = msg;
  const quote = msg.reply_to ? quoteOf(msg, node, ctx) : null;
  const key = viewKey(msg, delivery, quote, ctx);
  if (node.chatView === key) return;
  node.chatView = key;
  node.dataset.delivery = delivery ?? "";
  node.classList.toggle("pending", delivery !== null);
  node.classList.toggle("failed", delivery === "failed");
  const status = node.querySelector(".status");
  status.textContent = delivery ? STATUS_TEXT[delivery] ?? "" : "";
  if (delivery === "failed" && msg.error) status.textContent += ` (${msg.error})`;
  setTime(node.querySelector("time"), msg.created_at);
  const actions = node.querySelector(".message-actions");
  actions.replaceChildren(...deliveryActions(msg, delivery, ctx));
  node.querySelector("[data-testid=message-text]").replaceChildren(...linkify(msg.message));
  const edited = node.querySelector(".edited");
  edited.hidden = !msg.edited_at;
  if (msg.edited_at) edited.title = `Edited ${new Date(msg.edited_at).toLocaleString()}`;
  const mentioned = mentionsMe(msg, ctx);
  node.classList.toggle("mentions-me", mentioned);
  node.querySelector(".mention-note").textContent = mentioned ? " mentions you" : "";
  node.querySelector(".reply-slot").replaceChildren(...(quote ? [quoteNode(msg, quote, ctx)] : []));
  if (ctx.reactions) {
    const chips = node.querySelector("[data-testid=reactions]");
    const focused = chips.contains(document.activeElement) ? document.activeElement.dataset.emoji : null;
    chips.replaceChildren(...ctx.reactions(msg));
    // A chip toggled by keyboard keeps the focus (or hands it to React when it went away).
    if (focused !== null) {
      const again = [...chips.children].find((chip) => chip.dataset.emoji === focused);
      (again ?? node.querySelector("[data-testid=message-react]"))?.focus();
    }
  }
  // The toolbar only for messages the server has (a pending one cannot be answered yet).
  if (delivery === null && ctx.tools && !node.querySelector(".message-tools")) {
    node.querySelector(".meta").after(ctx.tools(node));
  }
}

// The original a reply quotes: {author, text} or {deleted} or {loading}; `later`
// re-renders the node once it is known.
function quoteOf(msg, node, ctx) {
  const rerender = () => {
    if (node.isConnected) updateMessage(node, node.chatMessage, node.dataset.delivery || null, ctx);
  };
  const target = ctx.replyTarget(msg.reply_to, rerender);
  if (!target) return { loading: true };
  if (target.deleted) return { deleted: true };
  const author = ctx.authorName(target.user, rerender) ?? "…";
  return { author, text: target.message.slice(0, 120) };
}

function quoteNode(msg, quote, ctx) {
  const children = quote.deleted ? [el("span", { class: "quote-text" }, "deleted message")]
    : quote.loading ? [el("span", { class: "quote-text" }, "an earlier message")]
    : [el("span", { class: "quote-author" }, quote.author), " ", el("span", { class: "quote-text" }, quote.text)];
  return el("button", {
    type: "button", class: "reply-quote", "data-testid": "reply-quote", "data-reply-to": msg.reply_to,
    title: quote.deleted ? null : "Show the original message", disabled: quote.deleted ? true : null,
    onclick: () => ctx.onQuote(msg),
  }, el("span", { class: "quote-mark", "aria-hidden": "true" }, "↪"),
  el("span", { class: "visually-hidden" }, "In reply to "), ...children);
}

function deliveryActions(msg, delivery, ctx) {
  if (delivery === "waiting") {
    return [el("button", { type: "button", class: "link", "data-testid": "message-retry", onclick: () => ctx.onRetry(msg) }, "Retry now")];
  }
  if (delivery !== "failed") return [];
  return [
    el("button", { type: "button", class: "link", "data-testid": "message-retry", onclick: () => ctx.onRetry(msg) }, "Retry"),
    el("button", { type: "button", class: "link", "data-testid": "message-discard", onclick: () => ctx.onDiscard(msg) }, "Discard"),
  ];
}

// ---------------------------------------------------------------- the list

// The items of the list, in order: a day divider before each new day, an unread
// divider after `unreadAfter` (the last message read before opening the room, when
// newer ones follow), and the messages, each marked as continuing its author's group.
// `messages`: [{msg, delivery}] in display order.
export function timelineEntries(messages, { unreadAfter = null } = {}) {
  const entries = [];
  let previous = null;
  let day = null;
  let dividerPending = false;
  for (const { msg, delivery } of messages) {
    const date = new Date(msg.created_at);
    const key = Number.isNaN(date.getTime()) ? day : dayKey(date);
    let breaksGroup = dividerPending;
    if (key !== day) {
      day = key;
      entries.push({ kind: "day", key: `day:${key}`, date });
      breaksGroup = true;
    }
    if (dividerPending) {
      entries.push({ kind: "unread", key: "unread" });
      dividerPending = false;
    }
    // A reply starts a group of its own: its quote sits right under the author's name.
    const continued = !breaksGroup && !msg.reply_to && previous !== null && previous.user === msg.user
      && date - new Date(previous.created_at) < GROUP_MS;
    entries.push({ kind: "message", key: msg.id, msg, delivery, continued });
    previous = msg;
    if (msg.id === unreadAfter) dividerPending = true;
  }
  return entries;
}

function dividerNode(entry) {
  if (entry.kind === "unread") {
    return el("li", { class: "divider unread-divider", "data-testid": "unread-divider" },
      el("span", { text: "New messages" }));
  }
  return el("li", { class: "divider day-divider", "data-testid": "day-divider" }, el("span"));
}

// Makes `list` show `entries`, reusing the nodes in `nodes` (key -> <li>) so that
// focus, selection and scroll position survive a render.
export function renderTimeline(list, entries, nodes, ctx) {
  const shown = new Set();
  let previous = null;
  for (const entry of entries) {
    let node = nodes.get(entry.key);
    if (entry.kind === "message") {
      if (!node) node = messageNode(entry.msg, { ...ctx, mine: ctx.isMine(entry.msg) });
      updateMessage(node, entry.msg, entry.delivery, ctx);
      node.classList.toggle("continued", entry.continued);
    } else {
      node ??= dividerNode(entry);
      if (entry.kind === "day") node.firstChild.textContent = dayLabel(entry.date);
    }
    nodes.set(entry.key, node);
    const expected = previous ? previous.nextElementSibling : list.firstElementChild;
    if (node !== expected) list.insertBefore(node, expected);
    previous = node;
    shown.add(entry.key);
  }
  for (const [key, node] of nodes) {
    if (!shown.has(key)) {
      node.remove();
      nodes.delete(key);
    }
  }
}

// What a screen reader hears for a newly arrived message.
export const announcement = (msg, authorName) => `${authorName}: ${msg.message}`;
