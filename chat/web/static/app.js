// The chat page: state, event wiring and the flows a person uses.

import * as api from "./api.js";
import { appendLive, createStore, mergeHistory } from "./messages.js";
import {
  fillList, invitationItem, memberItem, messageNode, publicRoomItem, roomItem, setPending,
} from "./render.js";
import { openStream } from "./stream.js";

const PAGE_SIZE = 50;
const $ = (id) => document.getElementById(id);

function initialState() {
  return {
    me: null,
    stream: null,
    rooms: new Map(), // my rooms (GET /users/{id}/rooms, with unread_count, last_read)
    publicRooms: [], // public rooms I am not in
    invitations: new Map(), // id -> {inv, roomName, inviterName}
    currentRoomId: null,
    stores: new Map(), // room id -> message store, for rooms opened since the last reload
    pending: new Map(), // message id -> my message posted but not yet seen on the stream
    members: [], // of the current room
    online: new Map(), // user id -> boolean
    directPeers: new Map(), // direct room id -> the other person's name
  };
}

let state = initialState();
const messageNodes = new Map(); // message id -> <li>, for the current room

// ---------------------------------------------------------------- users

const users = new Map(); // id -> Promise<User>
const names = new Map(); // id -> name, once known

function rememberUser(user) {
  names.set(user.id, user.name);
  users.set(user.id, Promise.resolve(user));
}

function lookupUser(id) {
  if (!users.has(id)) {
    const request = api.getUser(id).then((user) => {
      names.set(id, user.name);
      return user;
    });
    request.catch(() => users.delete(id)); // let a later call try again
    users.set(id, request);
  }
  return users.get(id);
}

// The name right away if known; otherwise null, and `later` is called with it.
function authorName(id, later) {
  if (names.has(id)) return names.get(id);
  lookupUser(id).then((user) => later(user.name), () => later("unknown user"));
  return null;
}

async function findUserByName(name) {
  const [user] = await api.findUser(name);
  if (!user) throw new api.ApiError(404, "not_found", `There is no user named “${name}”.`);
  return user;
}

// ---------------------------------------------------------------- feedback

const flashTimers = new Map();

function flash(id, text) {
  const box = $(id);
  box.querySelector(".flash-text").textContent = text;
  box.hidden = false;
  clearTimeout(flashTimers.get(id));
  flashTimers.set(id, setTimeout(() => (box.hidden = true), 10000));
}

function showError(err) {
  if (!(err instanceof api.ApiError)) console.error(err);
  if (err instanceof api.ApiError && err.status === 401 && state.me) endSession();
  const text = err instanceof api.ApiError ? err.message
    : navigator.onLine === false ? "You are offline." : "Could not reach the server.";
  flash("error", text);
}

const showNotice = (text) => flash("notice", text);

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
  rememberUser(user);
  $("loading").hidden = true;
  $("auth").hidden = true;
  $("chat").hidden = false;
  $("account").hidden = false;
  document.body.classList.add("signed-in");
  $("whoami").textContent = user.name;
  setNavOpen(true);
  renderRoomHeader();
  state.stream = openStream(user.id, streamHandlers);
  refreshRooms();
  refreshInvitations();
}

function endSession() {
  state.stream?.stop();
  state = initialState();
  messageNodes.clear();
  for (const id of ["room-list", "public-list", "invitation-list", "members", "messages"]) {
    $(id).replaceChildren();
  }
  document.title = "Chat";
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
  // Keyboard users land on their rooms, not on "Sign out".
  await roomsRequest;
  document.querySelector('[data-testid="room-item"] button')?.focus();
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

async function fetchRooms(ticket) {
  const me = state.me;
  if (!me) return; // signed out meanwhile
  try {
    const [mine, visible] = await Promise.all([api.myRooms(me.id), api.rooms()]);
    if (state.me !== me) return;
    if (ticket !== roomsTicket) return roomsRequest; // a newer request wins: wait for it
    state.rooms = new Map(mine.map((room) => [room.id, room]));
    state.publicRooms = visible.filter((room) => room.kind === "public" && !state.rooms.has(room.id));
    if (state.currentRoomId && !state.rooms.has(state.currentRoomId)) closeRoom();
    mine.filter((room) => room.kind === "direct" && !state.directPeers.has(room.id))
      .forEach(resolveDirectPeer);
    renderRooms();
    renderRoomHeader();
    maybeMarkRead();
  } catch (err) {
    if (state.me === me) showError(err);
  }
}

const refreshRoomsSoon = debounce(refreshRooms, 300);

async function resolveDirectPeer(room) {
  state.directPeers.set(room.id, ""); // in progress; the label falls back to the room name
  const list = await api.members(room.id).catch(() => []);
  const peer = list.find((user) => user.id !== state.me?.id);
  if (!peer) return state.directPeers.delete(room.id);
  state.directPeers.set(room.id, peer.name);
  renderRooms();
  renderRoomHeader();
}

function roomLabel(room) {
  const peer = state.directPeers.get(room.id);
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
  fillList($("public-list"), state.publicRooms.map((room) => publicRoomItem(room, {
    onJoin: () => joinRoom(room),
  })), "No other public rooms");
  const unread = mine.reduce((sum, room) => sum + (room.unread_count || 0), 0);
  document.title = unread ? `(${unread}) Chat` : "Chat";
}

function forgetRoom(roomId) {
  state.rooms.delete(roomId);
  state.stores.delete(roomId);
  if (roomId === state.currentRoomId) closeRoom();
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
  await api.leave(room.id, state.me.id);
  forgetRoom(room.id);
  showNotice(`You left ${roomLabel(room)}.`);
  refreshRooms();
});

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
  messageNodes.clear();
  $("messages").replaceChildren();
  state.members = [];
  renderMembers();
  renderRooms();
  renderRoomHeader();
  setNavOpen(roomId === null);
}

function openRoom(roomId) {
  if (!state.rooms.has(roomId)) return;
  setCurrentRoom(roomId);
  $("composer").focus();
  showHistory(roomId);
  loadMembers(roomId);
}

function closeRoom() {
  setCurrentRoom(null);
}

function renderRoomHeader() {
  const room = state.rooms.get(state.currentRoomId);
  $("room-title").textContent = room ? roomLabel(room) : "No room open";
  $("room-kind").textContent = room && room.kind !== "public" ? room.kind : "";
  $("room-empty").hidden = Boolean(room);
  for (const id of ["messages", "composer-form", "members-pane"]) $(id).hidden = !room;
  for (const id of ["leave-room", "invite-form"]) $(id).hidden = !room || room.kind === "direct";
}

// Shows the room's newest messages, loading them first if needed.
async function showHistory(roomId) {
  const store = storeFor(roomId);
  if (!store.loaded) await loadHistory(roomId);
  if (roomId !== state.currentRoomId) return;
  renderMessages();
  scrollToBottom();
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

// Keeps loading older pages while the list does not fill its box (no scrollbar to use).
function fillScreen() {
  const box = $("messages");
  if (box.scrollHeight <= box.clientHeight) loadOlder();
}

// Brings the list in line with the store plus my pending messages, reusing nodes.
function renderMessages() {
  const roomId = state.currentRoomId;
  if (!roomId) return;
  const box = $("messages");
  const store = state.stores.get(roomId);
  const confirmed = store?.messages ?? [];
  const pending = [...state.pending.values()].filter((msg) => msg.room === roomId && !store?.ids.has(msg.id));
  const shown = new Set();
  let previous = null;
  for (const msg of [...confirmed, ...pending]) {
    const isPending = !store?.ids.has(msg.id);
    let node = messageNodes.get(msg.id);
    if (!node) {
      node = messageNode(msg, { pending: isPending, mine: msg.user === state.me.id, authorName });
      messageNodes.set(msg.id, node);
    } else if (node.classList.contains("pending") !== isPending) {
      setPending(node, msg, isPending);
    }
    const expected = previous ? previous.nextElementSibling : box.firstElementChild;
    if (node !== expected) box.insertBefore(node, expected);
    previous = node;
    shown.add(msg.id);
  }
  for (const [id, node] of messageNodes) {
    if (!shown.has(id)) {
      node.remove();
      messageNodes.delete(id);
    }
  }
  box.dataset.start = String(Boolean(store?.loaded && !store.hasMore));
}

function isAtBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 32;
}

function scrollToBottom() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

// Marks the open room read when its newest message is actually on screen.
function maybeMarkRead() {
  const room = state.rooms.get(state.currentRoomId);
  const box = $("messages");
  if (!room || document.visibilityState !== "visible" || !box.getClientRects().length) return;
  const newest = state.stores.get(room.id)?.messages.at(-1);
  if (!newest || !isAtBottom()) return;
  if (room.unread_count) {
    room.unread_count = 0;
    renderRooms();
  }
  if (room.last_read === newest.id) return;
  room.last_read = newest.id;
  api.markRead(room.id, newest.id).catch(showError);
}

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

// Shows the message as pending at once; it stops being pending when it arrives on the
// stream. Network failures, 5xx and 429 are retried with the same id (idempotent).
async function sendMessage(roomId, text) {
  const me = state.me;
  const msg = { id: newMessageId(), room: roomId, user: me.id, message: text, created_at: new Date().toISOString() };
  state.pending.set(msg.id, msg);
  renderMessages();
  scrollToBottom();
  try {
    await api.retrying(() => api.postMessage(roomId, msg.id, text), { isCancelled: () => state.me !== me });
  } catch (err) {
    if (state.me !== me) return;
    state.pending.delete(msg.id);
    if (roomId === state.currentRoomId) {
      renderMessages();
      if (!$("composer").value) $("composer").value = text; // give the text back
    }
    showError(err);
  }
}

function submitComposer() {
  const composer = $("composer");
  const text = composer.value;
  if (!text.trim() || !state.currentRoomId) return;
  composer.value = "";
  sendMessage(state.currentRoomId, text);
}

function composerKeydown(event) {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $("composer-form").requestSubmit();
}

// ---------------------------------------------------------------- live events

function onMessage(msg) {
  state.pending.delete(msg.id);
  const store = state.stores.get(msg.room);
  const isNew = store ? appendLive(store, msg) : true;
  if (isNew && msg.user !== state.me.id) bumpUnread(msg.room);
  if (msg.room !== state.currentRoomId) return;
  const stick = isAtBottom() || msg.user === state.me.id;
  renderMessages();
  if (stick) scrollToBottom();
  maybeMarkRead();
}

function bumpUnread(roomId) {
  const room = state.rooms.get(roomId);
  if (!room) return refreshRoomsSoon(); // a room we have not listed yet
  room.unread_count = (room.unread_count || 0) + 1;
  renderRooms();
}

// Reloads the open room from history, e.g. after a `reset` or a stream that could
// not resume; other rooms reload when next opened.
function reloadHistories() {
  state.stores.clear();
  if (!state.currentRoomId) return;
  showHistory(state.currentRoomId);
  loadMembers(state.currentRoomId);
}

function onMembership({ room, user, action: what }) {
  if (user === state.me.id) {
    if (what === "joined") {
      dropInvitationsFor(room);
    } else {
      const known = state.rooms.get(room);
      forgetRoom(room);
      const verb = { left: "left", kicked: "were removed from", banned: "were banned from" }[what] ?? "left";
      if (known) showNotice(`You ${verb} ${roomLabel(known)}.`);
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

function onRoom({ room, action: what }) {
  if (what !== "deleted") return;
  const known = state.rooms.get(room);
  forgetRoom(room);
  if (known) showNotice(`${roomLabel(known)} was deleted.`);
  refreshRoomsSoon();
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
    flash("error", "Your session has ended. Please sign in again.");
    return false;
  }
}

const streamHandlers = {
  onState: setConnectionState,
  onReady(_data, { resumed }) {
    refreshRooms(); // membership and invitation events are not replayed
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
  onReset() {
    reloadHistories();
    refreshRooms();
  },
  beforeReconnect: stillSignedIn,
};

// ---------------------------------------------------------------- layout

function setNavOpen(open) {
  $("chat").classList.toggle("nav-open", open);
  $("nav-toggle").setAttribute("aria-expanded", String(open));
}

function bindUi() {
  $("members-pane").open = !window.matchMedia("(max-width: 700px)").matches; // phones: collapsed
  onSubmit($("auth-form"), submitAuth);
  onSubmit($("new-room-form"), createRoom);
  onSubmit($("dm-form"), openDirect);
  onSubmit($("invite-form"), sendInvitation);
  $("composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });
  $("composer").addEventListener("keydown", composerKeydown);
  $("signout").addEventListener("click", signOut);
  $("leave-room").addEventListener("click", leaveRoom);
  $("nav-toggle").addEventListener("click", () =>
    setNavOpen(!$("chat").classList.contains("nav-open")));
  for (const id of ["error", "notice"]) {
    $(id).querySelector("button").addEventListener("click", () => ($(id).hidden = true));
  }
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 80) loadOlder();
    if (isAtBottom()) maybeMarkRead();
  }, { passive: true });
  document.addEventListener("visibilitychange", maybeMarkRead);
  window.addEventListener("focus", maybeMarkRead);
}

async function boot() {
  bindUi();
  try {
    startSession(await api.me());
  } catch (err) {
    showAuth();
    if (err.status !== 401) showError(err);
  }
}

boot();
