// Getting the person's attention: the tab title counts unread messages, and desktop
// notifications (only once they were allowed with the button; the page never asks on
// its own) tell about direct messages and mentions while the tab is hidden.

export const PRODUCT = "Chatterly";

export function setUnreadTitle(count) {
  document.title = count > 0 ? `(${count}) ${PRODUCT}` : PRODUCT;
}

export const notificationsSupported = () => typeof window.Notification === "function";

// "default" (not asked yet), "granted", "denied", or "unsupported".
export const notificationPermission = () =>
  notificationsSupported() ? Notification.permission : "unsupported";

// Asks the browser; only ever called from a click on the "Enable notifications" button.
export async function requestNotifications() {
  if (!notificationsSupported()) return "unsupported";
  return Notification.requestPermission();
}

// Shows a notification for `msg` if it deserves one now. onClick opens its room.
export function maybeNotify({ msg, room, me, authorName, roomLabel, onClick }) {
  if (!document.hidden || notificationPermission() !== "granted") return null;
  if (msg.user === me.id || !room) return null;
  const direct = room.kind === "direct";
  if (!direct && !msg.mentions?.includes(me.id)) return null; // the server's mentions, not text
  const title = direct ? `${authorName} (direct message)` : `${authorName} mentioned you in ${roomLabel}`;
  try {
    const note = new Notification(title, { body: msg.message.slice(0, 200), tag: msg.id });
    note.onclick = () => {
      window.focus();
      onClick();
      note.close();
    };
    return note;
  } catch {
    return null; // e.g. a browser that only allows notifications from a service worker
  }
}
