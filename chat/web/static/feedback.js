// Banners and confirmations: how the page tells and asks, whatever it is about.

const $ = (id) => document.getElementById(id);

const flashTimers = new Map();

// Shows a banner that fades out by itself after `ms`: these report what just
// happened; anything lasting (a kick, a deleted room) is also said in the room view.
export function flash(id, text, ms) {
  const box = $(id);
  box.querySelector(".flash-text").textContent = text;
  box.classList.remove("fading");
  box.hidden = false;
  for (const timer of flashTimers.get(id) ?? []) clearTimeout(timer);
  flashTimers.set(id, [
    setTimeout(() => box.classList.add("fading"), ms - 600),
    setTimeout(() => hideFlash(id), ms),
  ]);
}

export function hideFlash(id) {
  $(id).hidden = true;
  $(id).classList.remove("fading");
}

// A modal question for destructive actions. Resolves true only for the confirm
// button; Escape, Cancel or closing it any other way mean no.
export function confirmAction({ title, text, ok }) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  dialog.querySelector('[value="confirm"]').textContent = ok;
  const opener = document.activeElement;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (opener?.isConnected) opener.focus();
      resolve(dialog.returnValue === "confirm");
    }, { once: true });
  });
}
