// DOM building for the side lists (rooms, invitations, members); the message timeline
// is timeline.js. User-supplied text only ever goes through textContent or text nodes.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children); // strings become text nodes
  return node;
}

export function roomItem(room, { label, current, onOpen }) {
  const badge = room.unread_count > 0
    ? el("span", { class: "badge", "data-testid": "unread-badge", "aria-label": `${room.unread_count} unread` },
        String(room.unread_count))
    : "";
  const mentions = room.mention_count > 0
    ? el("span", { class: "badge mention-badge", "data-testid": "mention-badge",
        "aria-label": `${room.mention_count} ${room.mention_count === 1 ? "mention" : "mentions"} of you` },
        `@${room.mention_count}`)
    : "";
  return el(
    "li",
    { "data-testid": "room-item", "data-room-id": room.id, "data-room-name": room.name, "data-kind": room.kind },
    el(
      "button",
      { type: "button", class: "room-button", "aria-current": current ? "page" : null, onclick: onOpen },
      el("span", { class: "room-name" }, label),
      room.kind === "private" ? el("span", { class: "tag", text: "private" }) : "",
      mentions,
      badge,
    ),
  );
}

export function publicRoomItem(room, { onJoin }) {
  return el(
    "li",
    { class: "joinable", "data-room-id": room.id, "data-room-name": room.name },
    el("span", { class: "room-name", text: room.name }),
    el("button", {
      type: "button", "data-testid": "join-room", "data-room-id": room.id, "data-room-name": room.name,
      "aria-label": `Join ${room.name}`, onclick: onJoin,
    }, "Join"),
  );
}

export function invitationItem(inv, { roomName, inviterName, onAccept, onDecline }) {
  return el(
    "li",
    { class: "invitation", "data-testid": "invitation", "data-invitation-id": inv.id, "data-room-id": inv.room },
    el("span", {}, el("strong", { text: roomName }), ` from ${inviterName}`),
    el("span", { class: "actions" },
      el("button", { type: "button", "data-testid": "invitation-accept", onclick: onAccept }, "Accept"),
      el("button", { type: "button", "data-testid": "invitation-decline", class: "secondary", onclick: onDecline }, "Decline"),
    ),
  );
}

export function memberItem(user, online) {
  return el(
    "li",
    { class: "member", "data-testid": "member", "data-user-id": user.id, "data-online": online ? "true" : "false" },
    el("span", { class: "dot", "aria-hidden": "true" }),
    el("span", { text: user.name }),
    el("span", { class: "visually-hidden", text: online ? " (online)" : " (offline)" }),
  );
}

// Replaces the children of a list, showing `emptyText` when there are none. If a
// button inside an item had focus, the same button of the new item gets it back.
export function fillList(list, items, emptyText) {
  const active = document.activeElement;
  const item = list.contains(active) ? active.closest("li") : null;
  const key = item ? itemKey(item) : null;
  const index = item ? [...item.querySelectorAll("button")].indexOf(active) : -1;
  list.replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: emptyText })]));
  if (key === null) return;
  const again = [...list.children].find((li) => itemKey(li) === key);
  again?.querySelectorAll("button")[index]?.focus();
}

const itemKey = (li) => li.dataset.invitationId ?? li.dataset.roomId ?? li.dataset.userId ?? null;
