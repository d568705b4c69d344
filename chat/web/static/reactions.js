// Reactions (API 1.1): chips with counts under a message, mine pressed; a click toggles
// mine. The picker offers a few common emoji.

import { el } from "./render.js";

export const REACTION_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

// The reactions after a `reaction` event, or the same array when it changes nothing
// ("added" by someone already listed, "removed" by someone who is not): the stream may
// replay an event the page applied already.
export function applyReactionEvent(reactions, { emoji, user, action }) {
  const index = reactions.findIndex((r) => r.emoji === emoji);
  const entry = reactions[index];
  const has = Boolean(entry?.users.includes(user));
  if (action === "added") {
    if (has) return reactions;
    if (!entry) return [...reactions, { emoji, count: 1, users: [user] }];
    const users = [...entry.users, user];
    return reactions.map((r, i) => (i === index ? { emoji, count: users.length, users } : r));
  }
  if (action !== "removed" || !has) return reactions;
  const users = entry.users.filter((id) => id !== user);
  if (!users.length) return reactions.filter((_, i) => i !== index);
  return reactions.map((r, i) => (i === index ? { emoji, count: users.length, users } : r));
}

export const reactedBy = (msg, emoji, userId) =>
  Boolean(msg.reactions?.find((r) => r.emoji === emoji)?.users.includes(userId));

// ctx: {me, nameOf(id) -> name or null, onToggle(msg, emoji)}.
export function reactionChips(msg, ctx) {
  return (msg.reactions ?? []).filter((r) => r.count > 0).map((r) => {
    const mine = r.users.includes(ctx.me);
    const who = r.users.map((id) => (id === ctx.me ? "you" : ctx.nameOf(id))).filter(Boolean);
    return el("button", {
      type: "button", class: "reaction-chip", "data-testid": "reaction-chip", "data-emoji": r.emoji,
      "aria-pressed": String(mine),
      "aria-label": `${r.emoji} ${r.count} ${r.count === 1 ? "reaction" : "reactions"}${mine ? ", including yours" : ""}`,
      title: who.length ? `Reacted: ${who.join(", ")}` : null,
      onclick: () => ctx.onToggle(msg, r.emoji),
    }, el("span", { class: "emoji", "aria-hidden": "true" }, r.emoji),
    el("span", { class: "count", "data-testid": "reaction-count", "aria-hidden": "true" }, String(r.count)));
  });
}

// A small popup of emoji buttons next to `opener`. Picking one, Escape or a click
// elsewhere closes it; focus goes back to the opener.
let openPicker = null;

export function closePicker({ refocus = true } = {}) {
  if (!openPicker) return;
  const { node, opener, onOutside } = openPicker;
  openPicker = null;
  node.remove();
  document.removeEventListener("pointerdown", onOutside, true);
  opener.setAttribute("aria-expanded", "false");
  if (refocus && opener.isConnected) opener.focus();
}

export function togglePicker(opener, msg, ctx) {
  if (openPicker?.opener === opener) return closePicker();
  closePicker({ refocus: false });
  const node = el("div", {
    class: "reaction-picker", role: "group", "aria-label": "Add a reaction", "data-testid": "reaction-picker",
    onkeydown: (event) => pickerKeys(event, node),
  }, ...REACTION_EMOJI.map((emoji) => el("button", {
    type: "button", class: "link", "data-testid": "reaction-option", "data-emoji": emoji,
    "aria-label": `React with ${emoji}`, "aria-pressed": String(reactedBy(msg, emoji, ctx.me)),
    onclick: () => {
      closePicker();
      ctx.onToggle(msg, emoji);
    },
  }, emoji)));
  const onOutside = (event) => {
    if (!node.contains(event.target) && event.target !== opener) closePicker({ refocus: false });
  };
  document.addEventListener("pointerdown", onOutside, true);
  opener.setAttribute("aria-expanded", "true");
  opener.after(node);
  openPicker = { node, opener, onOutside };
  node.querySelector("button").focus();
}

function pickerKeys(event, node) {
  const buttons = [...node.querySelectorAll("button")];
  const at = buttons.indexOf(document.activeElement);
  const move = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
  if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    closePicker();
  } else if (move) {
    event.preventDefault();
    buttons[(at + move + buttons.length) % buttons.length].focus();
  }
}
