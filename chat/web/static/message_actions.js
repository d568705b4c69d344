// What one can do with a message (API 1.1): reply, react, edit (mine) and delete (mine,
// or anyone's in a room I own), and the inline editor. The buttons sit in a small
// toolbar that shows on hover and on keyboard focus; every one has a spoken label.

import { el } from "./render.js";

// ctx: {canEdit(msg), canDelete(msg), onReply(msg), onReact(button, msg), onEdit(node, msg),
// onDelete(msg)}. The toolbar is built once per message node; its buttons read the
// message from the node when clicked (it changes with edits and reactions).
export function messageTools(node, ctx) {
  const current = () => node.chatMessage;
  const msg = current();
  // The visible word is the button's name (an icon beside it is decoration).
  const button = (testid, icon, text, onclick, extra = {}) => el("button",
    { type: "button", class: "tool", "data-testid": testid, onclick, ...extra },
    el("span", { class: "tool-icon", "aria-hidden": "true" }, icon), ` ${text}`);
  const tools = [
    button("message-reply", "↩", "Reply", () => ctx.onReply(current())),
    button("message-react", "☺", "React", (event) => ctx.onReact(event.currentTarget, current()),
      { "aria-haspopup": "true", "aria-expanded": "false", title: "Add a reaction" }),
  ];
  if (ctx.canEdit(msg)) tools.push(button("message-edit", "✎", "Edit", () => ctx.onEdit(node, current())));
  if (ctx.canDelete(msg)) tools.push(button("message-delete", "🗑", "Delete", () => ctx.onDelete(current())));
  return el("div", { class: "message-tools", role: "group", "aria-label": "Message actions" }, ...tools);
}

// Turns the message's text into a textarea: Enter saves (onSave(text) -> Promise; a
// rejection keeps the editor open), Shift+Enter is a new line, Escape cancels.
export function startEditing(node, msg, { onSave }) {
  if (node.querySelector(".edit-form")) return node.querySelector(".edit-form textarea").focus();
  const text = node.querySelector("[data-testid=message-text]");
  const inputId = `edit-${msg.id}`;
  const input = el("textarea", { id: inputId, class: "edit-input", "data-testid": "edit-input", rows: "2" });
  input.value = msg.message;
  // Buttons too: touch keyboards have no Escape.
  const form = el("form", { class: "edit-form", "data-testid": "edit-form" },
    el("label", { for: inputId, class: "visually-hidden" }, "Edit message"),
    input,
    el("div", { class: "edit-row" },
      el("span", { class: "hint edit-hint" }, "Enter to save · Escape to cancel"),
      el("button", { type: "button", class: "secondary", "data-testid": "edit-cancel", onclick: () => finish() }, "Cancel"),
      el("button", { type: "submit", "data-testid": "edit-save" }, "Save")));
  let saving = false;

  function finish() {
    form.remove();
    text.hidden = false;
    delete node.dataset.editing;
    node.querySelector("[data-testid=message-edit]")?.focus();
  }

  async function save() {
    const value = input.value;
    if (saving) return;
    if (value === node.chatMessage.message || !value.trim()) return finish();
    saving = true;
    form.setAttribute("aria-busy", "true");
    try {
      await onSave(value);
      finish();
    } catch {
      input.focus(); // the error is shown by onSave's caller; keep what was typed
    } finally {
      saving = false;
      form.removeAttribute("aria-busy");
    }
  }

  input.addEventListener("keydown", (event) => {
    if (event.isComposing) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      finish();
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      save();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  node.dataset.editing = "true";
  text.hidden = true;
  text.after(form);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}
