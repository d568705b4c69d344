// The chat page: state, event wiring and the flows a person uses.
// How messages look is timeline.js; sending is outbox.js; where the person is (URL,
// last room, stream position) is place.js; notifications and the title, attention.js;
// banners and confirmations, feedback.js; user names, users.js. API 1.1's message
// features each have a module (message_actions.js, reactions.js, mentions.js,
// typing.js, search.js) hooked in here.

import * as api from "./api.js";
import {
  PRODUCT, maybeNotify, notificationPermission, requestNotifications, setUnreadTitle,
} from "./attention.js";
import { confirmAction, flash, hideFlash } from "./feedback.js";
import { startEditing, messageTools } from "./message_actions.js";
import { attachMentions } from "./mentions.js";
import {
  appendLive, appendNewer, applyDelete, applyEdit, applyReaction, createStore, findMessage,
  mergeHistory,
} from "./messages.js";
import { createOutbox } from "./outbox.js";
import { lastEventId, lastRoom, roomFromUrl, setUrlRoom, signedInHint, unsent } from "./place.js";
import { fillList, invitationItem, memberItem, publicRoomItem, roomItem } from "./render.js";
import { closePicker, reactedBy, reactionChips, togglePicker } from "./reactions.js";
import { PAGE as SEARCH_PAGE, createSearch } from "./search.js";
import { openStream } from "./stream.js";
import { announcement, renderTimeline, timelineEntries } from "./timeline.js";
import { createTyping } from "./typing.js";
import { authorName, findUserByName, lookupUser, names, rememberUser } from "./users.js";

const PAGE_SIZE = 50;
const AROUND = 25; // messages loaded on each side of one jumped to
const HIGHLIGHT_MS = 3000;
const ERROR_MS = 6000; // transient banners fade after this
const NOTICE_MS = 6000;
const $ = (id) => document.getElementById(id);

function initialState() {
  return {
    me: null,
    stream: null,
    rooms: new Map(), // my rooms (GET /users/{id}/rooms, with unread_count, last_read)
    publicRooms: [], // public rooms I am not in
    invitations: new Map(), // id -> {inv, roomName, inviterName}
    currentRoomId: null,
    unreadAfter: null, // in the open room: the last message read before opening it
    stores: new Map(), // room id -> message store, for rooms opened since the last reload
    outboxes: new Map(), // room id -> outbox of my messages not yet accepted
    pending: new Map(), // message id -> my message not yet seen on the stream
    members: [], // of the current room
    online: new Map(), // user id -> boolean
    directPeers: new Map(), // direct room id -> the other person's name
    unseenBelow: 0, // messages that arrived while scrolled up (the jump button)
    placeRestored: false, // restorePlace ran for this session
    departing: new Set(), // rooms I am leaving or deleting myself: my words, not the event's
    replyTo: null, // the message my next post answers (in the open room)
    quoted: new Map(), // message id -> Message or DELETED: originals of replies not in view
    showing: null, // Promise: the open room's history shown (what a jump waits for)
  };
}

const DELETED = { deleted: true };

let state = initialState();
const timelineNodes = new Map(); // entry key -> <li>, for the current room

// ---------------------------------------------------------------- feedback

function showError(err) {
  if (!(err instanceof api.ApiError)) console.warn(err);
  if (err instanceof api.ApiError && err.status === 401 && state.me) endSession();
  const text = err instanceof api.ApiError ? err.message
    : navigator.onLine === false ? "You are offline." : "Could not reach the server.";
  flash("error", text, ERROR_MS);
}

const showNotice = (text) => flash("notice", text, NOTICE_MS);

// Runs an async UI action, reporting any failure.
const action = (fn) => async (...args) => {
  try {
    await fn(...args);
  } catch (err) {
    showError(err);
  }
};

// Submit handler that ignores re-submission while the previous one runs.
function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    try {
      await handler(event);
    } catch (err) {
      showError(err);
    } finally {
      form.removeAttribute("aria-busy");
    }
  });
}

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

// ---------------------------------------------------------------- session

function showAuth() {
  $("loading").hidden = true;
  $("chat").hidden = true;
  $("auth").hidden = false;
  $("account").hidden = true;
  document.body.classList.remove("signed-in");
  $("auth-name").focus();
}

function startSession(user) {
  state.me = user;
  signedInHint.set(true);
  rememberUser(user);
  $("loading").hidden = true;
  $("auth").hidden = true;
  $("chat").hidden = false;
  $("account").hidden = false;
  document.body.classList.add("signed-in");
  $("whoami").textContent = user.name;
  $("search-form").hidden = false;
  $("search-toggle").hidden = false;
  setNavOpen(true);
  renderRoomHeader();
  renderNotifyState();
  state.stream = openStream(user.id, streamHandlers);
  refreshRooms();
  refreshInvitations();
}

// Once my rooms are known after signing in or reloading (not before: a failed first
// request must not drop the room from the URL): my unsent messages go out again, and
// the room the URL names opens, else the last one I had open.
function restorePlace(user) {
  state.placeRestored = true;
  resendUnsent(user);
  if (state.currentRoomId) return;
  const wanted = roomFromUrl() ?? lastRoom.get(user.id);
  if (wanted && state.rooms.has(wanted)) openRoom(wanted, { replaceUrl: true });
  else setUrlRoom(null, { replace: true });
}

function endSession() {
  state.stream?.stop();
  if (state.me) {
    lastEventId.set(state.me.id, null); // a new session loads history anew
    unsent.set(state.me.id, []);
  }
  signedInHint.set(false);
  state = initialState();
  timelineNodes.clear();
  search.close();
  typing.setRoom(null);
  $("search-form").hidden = true;
  $("search-toggle").hidden = true;
  setReplyBar();
  for (const id of ["room-list", "public-list", "invitation-list", "members", "message-list"]) {
    $(id).replaceChildren();
  }
  setUnreadTitle(0);
  setUrlRoom(null, { replace: true });
  showAuth();
}

async function submitAuth(event) {
  const signingUp = event.submitter?.value === "signup";
  const name = $("auth-name").value.trim();
  const password = $("auth-password").value;
  if (signingUp) await api.signUp(name, password);
  const session = await api.signIn(name, password);
  $("auth-password").value = "";
  startSession(session.user);
  // Keyboard users land on their rooms, not on "Sign out" (unless a room reopened).
  await roomsRequest;
  if (!state.currentRoomId) document.querySelector('[data-testid="room-item"] button')?.focus();
}

const signOut = action(async () => {
  try {
    await api.signOut();
  } catch (err) {
    if (err.status !== 401) throw err;
  }
  endSession();
});

// ---------------------------------------------------------------- rooms

let roomsTicket = 0;
let roomsRequest = Promise.resolve();

// Reloads my rooms and the joinable ones. Resolves once the newest answer is applied.
function refreshRooms() {
  roomsRequest = fetchRooms(++roomsTicket);
  return roomsRequest;
}

// Live messages counted in the room list (bumpUnread), by room: a list answer computed
// before one of them was stored must not take its count back.
const liveBumps = new Map(); // room id -> number of live bumps, since the page started

async function fetchRooms(ticket) {
  const me = state.me;
  if (!me) return; // signed out meanwhile
  const bumpsBefore = new Map(liveBumps);
  try {
    const [mine, visible] = await Promise.all([api.myRooms(me.id), api.rooms()]);
    if (state.me !== me) return;
    if (ticket !== roomsTicket) return roomsRequest; // a newer request wins: wait for it
    let raced = false;
    for (const room of mine) {
      const held = state.rooms.get(room.id);
      if (!held || (liveBumps.get(room.id) ?? 0) === (bumpsBefore.get(room.id) ?? 0)) continue;
      // Counted live while the answer was on its way: it may or may not count them.
      room.unread_count = Math.max(room.unread_count ?? 0, held.unread_count ?? 0);
      room.mention_count = Math.max(room.mention_count ?? 0, held.mention_count ?? 0);
      raced = true;
    }
    if (raced) refreshRoomsSoon(); // a later answer counts them for sure
    state.rooms = new Map(mine.map((room) => [room.id, room]));
    state.publicRooms = visible.filter((room) => room.kind === "public" && !state.rooms.has(room.id));
    if (state.currentRoomId && !state.rooms.has(state.currentRoomId)) closeRoom();
    mine.filter((room) => room.kind === "direct" && !state.directPeers.has(room.id))
      .forEach(resolveDirectPeer);
    renderRooms();
    renderRoomHeader();
    if (!state.placeRestored) restorePlace(me);
    maybeMarkRead();
  } catch (err) {
    if (state.me === me) showError(err);
  }
}

const refreshRoomsSoon = debounce(refreshRooms, 300);

async function resolveDirectPeer(room) {
  if (room.peer) return state.directPeers.set(room.id, room.peer.name); // API 1.1
  state.directPeers.set(room.id, ""); // in progress; the label falls back to the room name
  const list = await api.members(room.id).catch(() => []);
  const peer = list.find((user) => user.id !== state.me?.id);
  if (!peer) return state.directPeers.delete(room.id);
  state.directPeers.set(room.id, peer.name);
  renderRooms();
  renderRoomHeader();
}

function roomLabel(room) {
  const peer = room.peer?.name ?? state.directPeers.get(room.id);
  return room.kind === "direct" && peer ? `@${peer}` : room.name;
}

function byKindThenName(a, b) {
  return Number(a.kind === "direct") - Number(b.kind === "direct")
    || roomLabel(a).localeCompare(roomLabel(b));
}

function renderRooms() {
  const mine = [...state.rooms.values()].sort(byKindThenName);
  fillList($("room-list"), mine.map((room) => roomItem(room, {
    label: roomLabel(room),
    current: room.id === state.currentRoomId,
    onOpen: () => openRoom(room.id),
  })), "No rooms yet");
  const joinable = [...state.publicRooms].sort((a, b) => a.name.localeCompare(b.name));
  fillList($("public-list"), joinable.map((room) => publicRoomItem(room, {
    onJoin: () => joinRoom(room),
  })), "No other public rooms");
  setUnreadTitle(mine.reduce((sum, room) => sum + (room.unread_count || 0), 0));
}

// The room is gone for me (left, kicked, banned, deleted). `reason` is said in the
// room view when it was the open room, so the change is not a silent jump.
function forgetRoom(roomId, reason = null) {
  state.rooms.delete(roomId);
  state.stores.delete(roomId);
  state.publicRooms = state.publicRooms.filter((room) => room.id !== roomId);
  if (roomId === state.currentRoomId) closeRoom(reason);
  else renderRooms();
}

const joinRoom = action(async (room) => {
  try {
    await api.join(room.id, state.me.id);
  } catch (err) {
    if (err.status !== 409) throw err; // 409: already a member, e.g. from another tab
  }
  await refreshRooms();
  openRoom(room.id);
});

const leaveRoom = action(async () => {
  const room = state.rooms.get(state.currentRoomId);
  if (!room) return;
  const ok = await confirmAction({
    title: `Leave ${roomLabel(room)}?`,
    text: room.kind === "private"
      ? "You will need a new invitation to come back."
      : "You can join it again from the list of public rooms.",
    ok: "Leave room",
  });
  if (!ok) return;
  await departFrom(room, () => api.leave(room.id, state.me.id));
  forgetRoom(room.id, `You left ${roomLabel(room)}.`);
  showNotice(`You left ${roomLabel(room)}.`);
  refreshRooms();
});

const deleteRoom = action(async () => {
  const room = state.rooms.get(state.currentRoomId);
  if (!room) return;
  const ok = await confirmAction({
    title: `Delete ${roomLabel(room)}?`,
    text: "The room and its conversation disappear for every member. This cannot be undone.",
    ok: "Delete room",
  });
  if (!ok) return;
  await departFrom(room, () => api.deleteRoom(room.id));
  forgetRoom(room.id, `You deleted ${roomLabel(room)}.`);
  showNotice(`You deleted ${roomLabel(room)}.`);
  refreshRooms();
});

// Runs my own leave/delete request. Its stream event may come before the answer; it
// must not replace "You deleted x" with "x was deleted" (or say it twice). The caller
// forgets the room right after, before any other event can be handled, so events
// after that find no room to speak of.
async function departFrom(room, request) {
  state.departing.add(room.id);
  try {
    await request();
  } finally {
    state.departing.delete(room.id);
  }
}

async function createRoom() {
  const name = $("new-room-name").value.trim();
  const kind = $("new-room-private").checked ? "private" : "public";
  const room = await api.createRoom(name, kind);
  $("new-room-name").value = "";
  $("new-room-private").checked = false;
  await refreshRooms();
  openRoom(room.id);
}

async function openDirect() {
  const user = await findUserByName($("dm-name").value.trim());
  const room = await api.openDirect(user.id);
  state.directPeers.set(room.id, user.name);
  $("dm-name").value = "";
  await refreshRooms();
  openRoom(room.id);
}

async function sendInvitation() {
  const roomId = state.currentRoomId;
  const user = await findUserByName($("invite-name").value.trim());
  await api.invite(roomId, user.id);
  $("invite-name").value = "";
  showNotice(`Invited ${user.name}.`);
}

// ---------------------------------------------------------------- invitations

async function describeInvitation(inv) {
  const [room, inviter] = await Promise.all([
    api.getRoom(inv.room).catch(() => null),
    lookupUser(inv.invited_by).catch(() => null),
  ]);
  return { inv, roomName: room?.name ?? "a private room", inviterName: inviter?.name ?? "someone" };
}

async function refreshInvitations() {
  try {
    const list = await Promise.all((await api.invitations()).map(describeInvitation));
    state.invitations = new Map(list.map((item) => [item.inv.id, item]));
    renderInvitations();
  } catch (err) {
    showError(err);
  }
}

function renderInvitations() {
  fillList($("invitation-list"), [...state.invitations.values()].map((item) => invitationItem(item.inv, {
    roomName: item.roomName,
    inviterName: item.inviterName,
    onAccept: () => answerInvitation(item, true),
    onDecline: () => answerInvitation(item, false),
  })), "No pending invitations");
}

const answerInvitation = action(async (item, accept) => {
  try {
    await (accept ? api.acceptInvitation(item.inv.id) : api.declineInvitation(item.inv.id));
  } catch (err) {
    refreshInvitations(); // it may be gone already
    throw err;
  }
  state.invitations.delete(item.inv.id);
  renderInvitations();
  if (!accept) return;
  await refreshRooms();
  openRoom(item.inv.room);
});

function dropInvitationsFor(roomId) {
  for (const [id, item] of state.invitations) if (item.inv.room === roomId) state.invitations.delete(id);
  renderInvitations();
}

// ---------------------------------------------------------------- the open room

function storeFor(roomId) {
  if (!state.stores.has(roomId)) state.stores.set(roomId, createStore());
  return state.stores.get(roomId);
}

// Switches the view to `roomId` (null: no room open) with an empty message list.
function setCurrentRoom(roomId) {
  state.currentRoomId = roomId;
  const room = state.rooms.get(roomId);
  // Where I left off: the unread divider goes after my read marker, if others wrote since.
  state.unreadAfter = room?.unread_count > 0 ? room.last_read : null;
  state.unseenBelow = 0;
  $("jump-new").hidden = true;
  closePicker({ refocus: false });
  timelineNodes.clear();
  state.replyTo = null;
  setReplyBar();
  typing.setRoom(roomId);
  $("message-list").replaceChildren();
  state.members = [];
  renderMembers();
  renderRooms();
  renderRoomHeader();
  setNavOpen(roomId === null);
}

// Opens one of my rooms. The URL follows (a new history entry unless `fromUrl`, when
// the URL already says so, or `replaceUrl`), and it becomes the room to reopen.
function openRoom(roomId, { fromUrl = false, replaceUrl = false } = {}) {
  if (!state.rooms.has(roomId)) return;
  if (!fromUrl) setUrlRoom(roomId, { replace: replaceUrl });
  lastRoom.set(state.me.id, roomId);
  if (roomId === state.currentRoomId) {
    $("composer").focus();
    return state.showing ?? Promise.resolve();
  }
  setCurrentRoom(roomId);
  $("composer").focus();
  loadMembers(roomId);
  state.showing = showHistory(roomId); // what a jump to a message in it waits for
  return state.showing;
}

// `reason`, if given, replaces the room view's hint (e.g. "You were removed from x.").
function closeRoom(reason = null) {
  if (state.currentRoomId) setUrlRoom(null, { replace: true });
  setCurrentRoom(null);
  const hint = $("room-empty");
  hint.textContent = reason ?? hint.dataset.defaultText;
  hint.classList.toggle("room-gone", Boolean(reason));
  // Focus was in the room that just went away (e.g. the composer): keep keyboard and
  // screen reader users in place, on the reason.
  const active = document.activeElement;
  const lost = !active || active === document.body
    || ($("room").contains(active) && active !== hint && !active.checkVisibility());
  if (reason && lost) hint.focus();
}

// Back/forward (and a hand-edited URL) move between rooms.
function followUrl() {
  if (!state.me) return;
  const roomId = roomFromUrl();
  if (roomId === state.currentRoomId) return;
  if (roomId && state.rooms.has(roomId)) openRoom(roomId, { fromUrl: true });
  else closeRoom(roomId ? "That room is not in your list any more." : null);
}

function renderRoomHeader() {
  const room = state.rooms.get(state.currentRoomId);
  $("room-title").textContent = room ? roomLabel(room) : "No room open";
  $("room-kind").textContent = room && room.kind !== "public" ? room.kind : "";
  $("room-empty").hidden = Boolean(room);
  for (const id of ["messages", "composer-form", "members-pane"]) $(id).hidden = !room;
  for (const id of ["leave-room", "invite-form"]) $(id).hidden = !room || room.kind === "direct";
  $("delete-room").hidden = !room || room.kind === "direct" || room.owner !== state.me?.id;
}

// Shows the room's newest messages, loading them first if needed.
async function showHistory(roomId) {
  const store = storeFor(roomId);
  if (!store.loaded) await loadHistory(roomId);
  if (roomId !== state.currentRoomId) return;
  renderMessages();
  scrollToBottom();
  $("message-list").querySelector("[data-testid=unread-divider]")?.scrollIntoView({ block: "nearest" });
  maybeMarkRead();
  fillScreen();
}

// Loads the newest page, or the page before message `before`. True if it loaded.
async function loadHistory(roomId, before) {
  const store = storeFor(roomId);
  if (store.loading) return false;
  store.loading = true;
  $("messages").setAttribute("aria-busy", "true");
  try {
    const page = await api.messages(roomId, { limit: PAGE_SIZE, before });
    mergeHistory(store, page);
    for (const msg of page) state.pending.delete(msg.id);
    store.loaded = true;
    store.hasMore = page.length === PAGE_SIZE;
    return true;
  } catch (err) {
    showError(err);
    return false;
  } finally {
    store.loading = false;
    store.early.clear(); // what the page did not bring is not held
    $("messages").removeAttribute("aria-busy");
  }
}

async function loadOlder() {
  const roomId = state.currentRoomId;
  const store = state.stores.get(roomId);
  if (!store?.loaded || !store.hasMore || store.loading || !store.messages.length) return;
  const box = $("messages");
  const fromBottom = box.scrollHeight - box.scrollTop;
  if (!(await loadHistory(roomId, store.messages[0].id)) || roomId !== state.currentRoomId) return;
  renderMessages();
  box.scrollTop = box.scrollHeight - fromBottom; // keep the same messages in view
  fillScreen();
}

// After a jump into the past: the next newer page, until the window meets the present.
async function loadNewer() {
  const roomId = state.currentRoomId;
  const store = state.stores.get(roomId);
  if (!store?.hasNewer || store.loading || !store.messages.length) return;
  store.loading = true;
  try {
    const page = await api.messages(roomId, { limit: PAGE_SIZE, after: store.messages.at(-1).id });
    appendNewer(store, page);
    if (page.length < PAGE_SIZE) {
      store.hasNewer = false;
      appendNewer(store, store.later ?? []); // live ones that came during the last request
      store.later = [];
    }
  } catch (err) {
    showError(err);
  } finally {
    store.loading = false;
    store.early.clear();
  }
  if (roomId !== state.currentRoomId) return;
  renderMessages();
  maybeMarkRead();
}

// Back to the newest messages (from a window of the past, e.g. to send).
function toPresent() {
  const roomId = state.currentRoomId;
  if (!state.stores.get(roomId)?.hasNewer) return false;
  state.stores.set(roomId, createStore());
  timelineNodes.clear();
  $("message-list").replaceChildren();
  state.showing = showHistory(roomId);
  return true;
}

// Loads the messages around `messageId` (with before/after cursors) when they are not
// held. False if the message is gone.
async function loadAround(roomId, messageId) {
  let target, older, newer;
  try {
    [target, older, newer] = await Promise.all([
      api.getMessage(roomId, messageId),
      api.messages(roomId, { limit: AROUND, before: messageId }),
      api.messages(roomId, { limit: AROUND, after: messageId }),
    ]);
  } catch (err) {
    if (err.status === 404 || err.code === "invalid_cursor") {
      state.quoted.set(messageId, DELETED);
      showNotice("That message was deleted.");
    } else showError(err);
    return false;
  }
  const page = [...older, target, ...newer];
  const held = storeFor(roomId);
  if (newer.length < AROUND) {
    // The window reaches the newest messages: it joins what is held.
    mergeHistory(held, page);
    if (!held.loaded) held.hasMore = older.length === AROUND;
    held.loaded = true;
  } else {
    const windowed = createStore();
    mergeHistory(windowed, page);
    Object.assign(windowed, { loaded: true, hasMore: older.length === AROUND, hasNewer: true, later: [] });
    for (const id of held.deleted) windowed.deleted.add(id);
    state.stores.set(roomId, windowed);
    if (roomId === state.currentRoomId) {
      timelineNodes.clear();
      $("message-list").replaceChildren();
    }
  }
  return true;
}

// Opens the room at one of its messages: loads it if needed, scrolls to it and
// highlights it.
async function jumpToMessage(roomId, messageId) {
  if (!state.rooms.has(roomId)) return showNotice("That room is not in your list any more.");
  await openRoom(roomId);
  if (roomId !== state.currentRoomId) return;
  if (!state.stores.get(roomId)?.ids.has(messageId) && !(await loadAround(roomId, messageId))) return;
  if (roomId !== state.currentRoomId) return;
  renderMessages();
  highlightMessage(messageId);
}

const highlightTimers = new Map();

function highlightMessage(messageId) {
  const node = timelineNodes.get(messageId);
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  node.classList.add("highlighted");
  node.tabIndex = -1;
  node.focus({ preventScroll: true }); // screen readers read it; Tab goes on from there
  clearTimeout(highlightTimers.get(messageId));
  highlightTimers.set(messageId, setTimeout(() => node.classList.remove("highlighted"), HIGHLIGHT_MS));
}

// Keeps loading older pages while the list does not fill its box (no scrollbar to use).
function fillScreen() {
  const box = $("messages");
  if (box.scrollHeight <= box.clientHeight) loadOlder();
}

const timelineContext = {
  authorName,
  get me() {
    return state.me?.id ?? null;
  },
  isMine: (msg) => msg.user === state.me?.id,
  replyTarget,
  onQuote: (msg) => jumpToMessage(msg.room, msg.reply_to),
  tools: (node) => messageTools(node, {
    canEdit: (msg) => msg.user === state.me?.id,
    canDelete: (msg) => msg.user === state.me?.id || state.rooms.get(msg.room)?.owner === state.me?.id,
    onReply: startReply,
    onReact: (button, msg) => togglePicker(button, msg, { me: state.me?.id, onToggle: toggleReaction }),
    onEdit: (node, msg) => startEditing(node, msg, { onSave: (text) => saveEdit(msg, text) }),
    onDelete: deleteMessage,
  }),
  reactions: (msg) => reactionChips(msg, {
    me: state.me?.id, nameOf: (id) => names.get(id) ?? null, onToggle: toggleReaction,
  }),
  onRetry: (msg) => state.outboxes.get(msg.room)?.retry(msg),
  onDiscard: (msg) => {
    if (!state.outboxes.get(msg.room)?.discard(msg)) return;
    state.pending.delete(msg.id);
    saveUnsent();
    renderMessages();
    $("composer").focus();
  },
};

// Brings the list in line with the store plus my pending messages (in typed order).
function renderMessages() {
  const roomId = state.currentRoomId;
  if (!roomId) return;
  const store = state.stores.get(roomId);
  const confirmed = (store?.messages ?? []).map((msg) => ({ msg, delivery: null }));
  const pending = [...state.pending.values()]
    .filter((msg) => msg.room === roomId && !store?.ids.has(msg.id))
    .map((msg) => ({ msg, delivery: msg.state }));
  const entries = timelineEntries([...confirmed, ...pending], { unreadAfter: state.unreadAfter });
  renderTimeline($("message-list"), entries, timelineNodes, timelineContext);
  $("messages").dataset.start = String(Boolean(store?.loaded && !store.hasMore));
}

function isAtBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 32;
}

function scrollToBottom() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
  state.unseenBelow = 0;
  $("jump-new").hidden = true;
}

// Messages arrived below while I read older ones: offer a way down, don't yank me there.
function showJumpButton() {
  state.unseenBelow++;
  const button = $("jump-new");
  button.textContent = `${state.unseenBelow} new message${state.unseenBelow === 1 ? "" : "s"} ↓`;
  button.hidden = false;
}

// Marks the open room read when its newest message is actually on screen.
function maybeMarkRead() {
  const room = state.rooms.get(state.currentRoomId);
  const box = $("messages");
  if (!room || document.visibilityState !== "visible" || !box.getClientRects().length) return;
  const store = state.stores.get(room.id);
  const newest = store?.messages.at(-1);
  if (!newest || store.hasNewer || !isAtBottom()) return; // hasNewer: not the newest yet
  if (room.unread_count || room.mention_count) {
    room.unread_count = 0;
    room.mention_count = 0;
    renderRooms();
  }
  if (room.last_read === newest.id) return;
  room.last_read = newest.id;
  api.markRead(room.id, newest.id).catch(showError);
}

// ---------------------------------------------------------------- message actions

// The message a reply quotes: the Message, DELETED, or null while it loads (`later` is
// called once it is known). Held messages first, then ones fetched for a quote.
const quoteRequests = new Map(); // message id -> Promise

function replyTarget(messageId, later) {
  for (const store of state.stores.values()) {
    const held = findMessage(store, messageId);
    if (held) return held;
    if (store.deleted.has(messageId)) return DELETED;
  }
  if (state.quoted.has(messageId)) return state.quoted.get(messageId);
  const roomId = state.currentRoomId;
  if (!roomId || quoteRequests.has(messageId)) return null;
  const request = api.getMessage(roomId, messageId).then((msg) => {
    state.quoted.set(messageId, msg);
  }, (err) => {
    if (err.status === 404) state.quoted.set(messageId, DELETED);
  }).then(later);
  quoteRequests.set(messageId, request);
  return null;
}

function startReply(msg) {
  state.replyTo = msg;
  setReplyBar();
  $("composer").focus();
}

function cancelReply() {
  if (!state.replyTo) return false;
  state.replyTo = null;
  setReplyBar();
  return true;
}

// "Replying to X: …" above the composer, while a reply is being written.
function setReplyBar() {
  const msg = state.replyTo;
  $("reply-bar").hidden = !msg;
  if (!msg) return;
  const text = $("reply-bar-text");
  const show = (name) => {
    text.replaceChildren("Replying to ", Object.assign(document.createElement("strong"), { textContent: name }),
      `: ${msg.message.slice(0, 80)}${msg.message.length > 80 ? "…" : ""}`);
  };
  show(authorName(msg.user, (name) => state.replyTo === msg && show(name)) ?? "…");
}

const toggleReaction = action(async (msg, emoji) => {
  const me = state.me.id;
  const current = findMessage(state.stores.get(msg.room), msg.id) ?? msg;
  const adding = !reactedBy(current, emoji, me);
  await (adding ? api.addReaction : api.removeReaction)(msg.room, msg.id, emoji);
  // The stream says so too; applying it twice changes nothing.
  onReaction({ room: msg.room, message: msg.id, emoji, user: me, action: adding ? "added" : "removed" });
});

async function saveEdit(msg, text) {
  try {
    onEdit(await api.editMessage(msg.room, msg.id, text));
  } catch (err) {
    showError(err);
    throw err; // the editor stays open
  }
}

const deleteMessage = action(async (msg) => {
  const mine = msg.user === state.me.id;
  const ok = await confirmAction({
    title: mine ? "Delete your message?" : "Delete this message?",
    text: "It disappears for everyone in the room. This cannot be undone.",
    ok: "Delete message",
  });
  if (!ok) return;
  await api.deleteMessage(msg.room, msg.id);
  onDelete({ room: msg.room, message: msg.id });
  $("composer").focus(); // the message (and its buttons) are gone
});

// ---------------------------------------------------------------- members

async function loadMembers(roomId) {
  try {
    const list = await api.members(roomId);
    if (roomId !== state.currentRoomId) return;
    for (const user of list) {
      rememberUser(user);
      state.online.set(user.id, Boolean(user.online));
    }
    state.members = list;
    renderMembers();
  } catch (err) {
    showError(err);
  }
}

function renderMembers() {
  const isOnline = (user) => state.online.get(user.id) === true;
  const sorted = [...state.members].sort((a, b) =>
    Number(isOnline(b)) - Number(isOnline(a)) || a.name.localeCompare(b.name));
  fillList($("members"), sorted.map((user) => memberItem(user, isOnline(user))), "No members");
  $("members-count").textContent = `${sorted.filter(isOnline).length} of ${sorted.length} online`;
}

// ---------------------------------------------------------------- sending

function newMessageId() {
  if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function outboxFor(roomId) {
  if (!state.outboxes.has(roomId)) {
    const me = state.me;
    state.outboxes.set(roomId, createOutbox({
      post: (msg) => api.postMessage(roomId, msg.id, msg.message, msg.reply_to),
      isActive: () => state.me === me,
      onChange: (msg) => {
        if (state.me !== me || !state.pending.has(msg.id)) return;
        saveUnsent();
        if (msg.state === "failed") showError(new api.ApiError(0, "not_sent", `Not sent: ${msg.error}`));
        if (roomId === state.currentRoomId) renderMessages();
      },
    }));
  }
  return state.outboxes.get(roomId);
}

// What a reload must send again: my messages the server has not accepted yet.
function saveUnsent() {
  if (!state.me) return;
  const list = [...state.pending.values()].filter((msg) => msg.state !== "sent")
    .map(({ id, room, user, message, created_at, reply_to }) => ({ id, room, user, message, created_at, reply_to }));
  unsent.set(state.me.id, list);
}

// After a reload: queue again, in their order, the messages the last page could not
// send (those of rooms I am still in; history or the stream drop any already stored).
function resendUnsent(user) {
  if (state.me !== user) return;
  for (const msg of unsent.get(user.id)) {
    if (!state.rooms.has(msg.room) || state.pending.has(msg.id) || msg.user !== user.id) continue;
    if (state.stores.get(msg.room)?.ids.has(msg.id)) continue;
    state.pending.set(msg.id, msg);
    outboxFor(msg.room).add(msg);
  }
  renderMessages();
}

// Shows the message as pending at once and queues it; it stops being pending when it
// arrives on the stream (or in history).
function sendMessage(roomId, text) {
  const msg = {
    id: newMessageId(), room: roomId, user: state.me.id, message: text,
    created_at: new Date().toISOString(), reply_to: state.replyTo?.id ?? null,
    edited_at: null, mentions: [], reactions: [],
  };
  cancelReply();
  typing.sent();
  state.pending.set(msg.id, msg);
  outboxFor(roomId).add(msg);
  if (!toPresent()) scrollToBottom();
}

function submitComposer() {
  const composer = $("composer");
  const text = composer.value;
  if (!text.trim() || !state.currentRoomId) return;
  composer.value = "";
  sendMessage(state.currentRoomId, text);
}

function composerKeydown(event) {
  if (event.key === "Escape" && !event.defaultPrevented && cancelReply()) {
    event.preventDefault();
    return;
  }
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $("composer-form").requestSubmit();
}

// ---------------------------------------------------------------- live events

function onMessage(msg, eventId) {
  if (!state.me) return;
  lastEventId.set(state.me.id, eventId || msg.id); // where a reload resumes
  if (state.pending.delete(msg.id)) saveUnsent();
  const store = state.stores.get(msg.room);
  const isNew = store ? appendLive(store, msg) : true;
  typing.messageFrom(msg.room, msg.user);
  if (isNew && msg.user !== state.me.id) {
    bumpUnread(msg);
    notifyAbout(msg);
  }
  if (msg.room !== state.currentRoomId) return;
  const mine = msg.user === state.me.id;
  const stick = isAtBottom() || mine;
  renderMessages();
  if (stick) scrollToBottom();
  else if (isNew) showJumpButton();
  if (isNew && !mine) announce(msg);
  maybeMarkRead();
}

function announce(msg) {
  const name = names.get(msg.user);
  if (name) $("announcer").textContent = announcement(msg, name);
  else lookupUser(msg.user).then((user) => ($("announcer").textContent = announcement(msg, user.name)), () => {});
}

async function notifyAbout(msg) {
  if (notificationPermission() !== "granted" || !document.hidden) return;
  let room = state.rooms.get(msg.room);
  if (!room) {
    // Most likely someone's first direct message: its room is not listed yet.
    await refreshRooms();
    room = state.rooms.get(msg.room);
  }
  if (!room) return;
  const user = await lookupUser(msg.user).catch(() => null);
  if (!state.me) return;
  maybeNotify({
    msg, room, me: state.me, authorName: user?.name ?? "Someone", roomLabel: roomLabel(room),
    onClick: () => openRoom(room.id),
  });
}

function bumpUnread(msg) {
  const room = state.rooms.get(msg.room);
  if (!room) return refreshRoomsSoon(); // a room we have not listed yet
  room.unread_count = (room.unread_count || 0) + 1;
  liveBumps.set(room.id, (liveBumps.get(room.id) ?? 0) + 1);
  if (msg.mentions?.includes(state.me.id)) room.mention_count = (room.mention_count || 0) + 1;
  renderRooms();
}

// API 1.1 changes to messages. Each may come twice (replay after a resume): applying
// one again leaves the same result.
function onEdit(msg) {
  if (!state.me) return;
  if (state.quoted.has(msg.id) && state.quoted.get(msg.id) !== DELETED) state.quoted.set(msg.id, msg);
  if (state.replyTo?.id === msg.id) {
    state.replyTo = msg;
    setReplyBar();
  }
  if (applyEdit(state.stores.get(msg.room), msg) && msg.room === state.currentRoomId) renderMessages();
}

function onDelete({ room, message }) {
  if (!state.me) return;
  state.quoted.set(message, DELETED);
  if (state.replyTo?.id === message) cancelReply();
  const held = applyDelete(state.stores.get(room), message);
  if (room === state.currentRoomId) {
    if (held) renderMessages();
  } else if (state.rooms.get(room)?.unread_count) {
    refreshRoomsSoon(); // it may have been one of the unread
  }
}

function onReaction(event) {
  if (!state.me) return;
  if (applyReaction(state.stores.get(event.room), event) && event.room === state.currentRoomId) renderMessages();
}

function onTyping(event) {
  if (state.me && event.user !== state.me.id) typing.heard(event);
}

// Reloads the open room from history, e.g. after a `reset` or a stream that could
// not resume; other rooms reload when next opened.
function reloadHistories() {
  state.stores.clear();
  state.quoted.clear();
  quoteRequests.clear();
  if (!state.currentRoomId) return;
  showHistory(state.currentRoomId);
  loadMembers(state.currentRoomId);
}

const GONE = { left: "You left", kicked: "You were removed from", banned: "You were banned from" };

function onMembership({ room, user, action: what }) {
  if (user === state.me.id) {
    if (state.departing.has(room)) return; // leaveRoom says it
    if (what === "joined") {
      dropInvitationsFor(room);
    } else {
      const known = state.rooms.get(room);
      const text = known ? `${GONE[what] ?? "You left"} ${roomLabel(known)}.` : null;
      forgetRoom(room, text);
      if (text) showNotice(text);
    }
    refreshRoomsSoon();
  } else if (room === state.currentRoomId) {
    if (what === "joined") loadMembers(room);
    else {
      state.members = state.members.filter((member) => member.id !== user);
      renderMembers();
    }
  }
}

function onRoom({ room, action: what, info }) {
  if (what === "created") return roomCreated(info);
  if (what !== "deleted" || state.departing.has(room)) return; // deleteRoom says it
  const known = state.rooms.get(room);
  const text = known ? `${roomLabel(known)} was deleted.` : null;
  forgetRoom(room, text);
  if (text) showNotice(text);
  refreshRoomsSoon();
}

// Someone made a public room: offer it at once. (My own rooms come with refreshRooms.)
function roomCreated(info) {
  if (!info || info.kind !== "public" || state.rooms.has(info.id)) return;
  if (info.owner === state.me.id || state.publicRooms.some((room) => room.id === info.id)) return;
  state.publicRooms.push(info);
  renderRooms();
}

function onPresence({ user, status }) {
  state.online.set(user, status === "online");
  if (state.members.some((member) => member.id === user)) renderMembers();
}

async function onInvitation(inv) {
  const item = await describeInvitation(inv);
  state.invitations.set(inv.id, item);
  renderInvitations();
  showNotice(`${item.inviterName} invited you to ${item.roomName}.`);
}

// My read marker moved, perhaps in another tab.
function onRead({ room, message }) {
  const known = state.rooms.get(room);
  if (!known || known.last_read === message) return;
  known.last_read = message;
  if (state.stores.get(room)?.messages.at(-1)?.id === message) {
    known.unread_count = 0;
    known.mention_count = 0;
    renderRooms();
  } else {
    refreshRoomsSoon();
  }
}

function setConnectionState(text) {
  const node = $("connection-state");
  node.textContent = text;
  node.dataset.state = text;
}

// Before replacing a stream the server closed: is the session still good?
async function stillSignedIn() {
  try {
    await api.me();
    return true;
  } catch (err) {
    if (err.status !== 401) return true;
    endSession();
    flash("error", "Your session has ended. Please sign in again.", ERROR_MS);
    return false;
  }
}

const streamHandlers = {
  onState: setConnectionState,
  onReady(_data, { resumed }) {
    refreshRooms(); // invitations and rooms created meanwhile are not replayed
    refreshInvitations();
    if (!resumed) reloadHistories();
    else if (state.currentRoomId) loadMembers(state.currentRoomId);
  },
  onMessage,
  onPresence,
  onMembership,
  onRoom,
  onInvitation,
  onRead,
  onEdit,
  onDelete,
  onReaction,
  onTyping,
  onReset() {
    if (state.me) lastEventId.set(state.me.id, null);
    reloadHistories();
    refreshRooms();
  },
  lastEventId: () => (state.me ? lastEventId.get(state.me.id) : null),
  beforeReconnect: stillSignedIn,
};

// ---------------------------------------------------------------- notifications

function renderNotifyState() {
  const permission = notificationPermission();
  const text = {
    unsupported: "This browser cannot show desktop notifications.",
    default: "Get a desktop notification for direct messages and mentions while this tab is hidden.",
    granted: "On: direct messages and mentions notify you while this tab is hidden.",
    denied: "Blocked in this browser's site settings.",
  }[permission];
  $("notify-state").textContent = text ?? "";
  $("notify-enable").hidden = permission !== "default";
}

const enableNotifications = action(async () => {
  await requestNotifications();
  renderNotifyState();
});

// ---------------------------------------------------------------- typing, search

const typing = createTyping({
  send: (roomId) => api.typing(roomId),
  render: (text) => ($("typing").textContent = text),
  nameOf: (id, later) => authorName(id, () => later()),
});

const search = createSearch({
  form: $("search-form"), input: $("search-input"), scope: $("search-scope"),
  panel: $("search-panel"), list: $("search-results"), status: $("search-status"),
  more: $("search-more"), close: $("search-close"),
}, {
  search: (q, room, before) => api.searchMessages(q, { room, before, limit: SEARCH_PAGE }),
  currentRoom: () => state.currentRoomId,
  authorName,
  roomLabel: (roomId) => {
    const room = state.rooms.get(roomId);
    return room ? roomLabel(room) : "a room";
  },
  onOpen: (msg) => {
    setSearchOpen(false);
    jumpToMessage(msg.room, msg.id);
  },
  onError: showError,
});

// Phones: the search box is behind a button in the top bar.
function setSearchOpen(open) {
  document.querySelector(".topbar").classList.toggle("search-open", open);
  $("search-toggle").setAttribute("aria-expanded", String(open));
  if (open) $("search-input").focus();
}

function composerInput() {
  if (state.currentRoomId && $("composer").value.trim()) typing.typed(state.currentRoomId);
}

// ---------------------------------------------------------------- layout

function setNavOpen(open) {
  $("chat").classList.toggle("nav-open", open);
  $("nav-toggle").setAttribute("aria-expanded", String(open));
}

// Escape closes the room list when it covers a room (phones); dialogs close by themselves.
function onKeydown(event) {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  if ($("chat").classList.contains("nav-open") && state.currentRoomId
      && window.matchMedia("(max-width: 700px)").matches) {
    setNavOpen(false);
    $("nav-toggle").focus();
  }
}

function bindUi() {
  $("room-empty").dataset.defaultText = $("room-empty").textContent;
  $("members-pane").open = !window.matchMedia("(max-width: 700px)").matches; // phones: collapsed
  onSubmit($("auth-form"), submitAuth);
  onSubmit($("new-room-form"), createRoom);
  onSubmit($("dm-form"), openDirect);
  onSubmit($("invite-form"), sendInvitation);
  $("composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });
  attachMentions($("composer"), $("mention-list"), { // before composerKeydown: its keys win
    members: () => state.members,
    meId: () => state.me?.id,
  });
  $("composer").addEventListener("keydown", composerKeydown);
  $("composer").addEventListener("input", composerInput);
  $("reply-cancel").addEventListener("click", () => {
    cancelReply();
    $("composer").focus();
  });
  $("search-toggle").addEventListener("click", () =>
    setSearchOpen(!document.querySelector(".topbar").classList.contains("search-open")));
  $("signout").addEventListener("click", signOut);
  $("leave-room").addEventListener("click", leaveRoom);
  $("delete-room").addEventListener("click", deleteRoom);
  $("notify-enable").addEventListener("click", enableNotifications);
  $("jump-new").addEventListener("click", () => {
    if (toPresent()) return;
    scrollToBottom();
    maybeMarkRead();
  });
  $("nav-toggle").addEventListener("click", () =>
    setNavOpen(!$("chat").classList.contains("nav-open")));
  for (const id of ["error", "notice"]) {
    $(id).querySelector("button").addEventListener("click", () => hideFlash(id));
  }
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 80) loadOlder();
    if (isAtBottom() && state.stores.get(state.currentRoomId)?.hasNewer) loadNewer();
    else if (isAtBottom()) {
      state.unseenBelow = 0;
      $("jump-new").hidden = true;
      maybeMarkRead();
    }
  }, { passive: true });
  document.addEventListener("keydown", onKeydown);
  document.addEventListener("visibilitychange", maybeMarkRead);
  window.addEventListener("focus", maybeMarkRead);
  window.addEventListener("popstate", followUrl);
  window.addEventListener("hashchange", followUrl);
  // Back online: send what waited instead of sleeping out the backoff.
  window.addEventListener("online", () => {
    state.stream?.reconnectNow();
    for (const outbox of state.outboxes.values()) outbox.nudge();
  });
}

async function boot() {
  bindUi();
  setUnreadTitle(0);
  document.querySelector(".brand").textContent = PRODUCT;
  // Without the hint there is no session to find: don't ask (the 401 would be logged).
  if (!signedInHint.get()) return showAuth();
  try {
    startSession(await api.me());
  } catch (err) {
    if (err.status === 401) signedInHint.set(false);
    showAuth();
    if (err.status !== 401) showError(err);
  }
}

boot();
