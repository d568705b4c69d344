// @mentions in the composer: typing "@" opens a list of the room's members, filtered by
// what follows it; Up/Down move, Enter or Tab insert "@name ", Escape closes. The list is
// an ARIA listbox owned by the composer (a combobox), so screen readers follow the
// highlighted option without focus leaving the text.

import { el } from "./render.js";

const MAX_OPTIONS = 8;
// "@" at the start or after a space, then name characters up to the caret.
const TRIGGER = /(^|\s)@([A-Za-z0-9_.-]*)$/;

// input: the composer; list: an empty <ul>; members() -> [User] of the open room;
// meId() -> my id (I am not offered).
export function attachMentions(input, list, { members, meId }) {
  let options = [];
  let active = -1;
  let start = -1; // where the "@" is

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Members to mention");
  list.hidden = true;

  function close() {
    options = [];
    active = -1;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function update() {
    const before = input.value.slice(0, input.selectionStart);
    const match = input.selectionStart === input.selectionEnd ? TRIGGER.exec(before) : null;
    if (!match) return close();
    const typed = match[2].toLowerCase();
    start = before.length - match[2].length - 1;
    options = members()
      .filter((user) => user.id !== meId() && user.name.toLowerCase().startsWith(typed))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, MAX_OPTIONS);
    if (!options.length) return close();
    active = Math.min(Math.max(active, 0), options.length - 1);
    render();
  }

  function render() {
    list.replaceChildren(...options.map((user, index) => el("li", {
      id: `${list.id}-${index}`, role: "option", class: "mention-option", "data-testid": "mention-option",
      "aria-selected": String(index === active),
      // pointerdown, not click: the composer must keep focus (and its caret).
      onpointerdown: (event) => {
        event.preventDefault();
        choose(index);
      },
    }, `@${user.name}`)));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
    list.children[active]?.scrollIntoView({ block: "nearest" });
  }

  function choose(index) {
    const user = options[index];
    if (!user) return close();
    const caret = input.selectionStart;
    const insert = `@${user.name} `;
    input.value = input.value.slice(0, start) + insert + input.value.slice(caret);
    const at = start + insert.length;
    input.setSelectionRange(at, at);
    close();
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // Runs before the composer's own keys (Enter sends): while the list is open, its keys win.
  input.addEventListener("keydown", (event) => {
    if (list.hidden || event.isComposing) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      if (event.shiftKey) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      choose(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopImmediatePropagation();
      close();
    }
  });
  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("blur", close);
  return { close, isOpen: () => !list.hidden };
}
