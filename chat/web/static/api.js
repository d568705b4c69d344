// Thin wrapper over the chat HTTP API (see API.md). Authentication is the
// HttpOnly session cookie set by POST /sessions, so no token is kept here.

const BASE = "/v1/chats";

export class ApiError extends Error {
  constructor(status, code, message, retryAfterMs = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, when - Date.now());
}

// Rejects with a TypeError when the network fails, with ApiError on HTTP errors.
async function request(method, path, body) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, options);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(
      response.status,
      error.code ?? "http_error",
      error.message ?? `Request failed (HTTP ${response.status})`,
      parseRetryAfter(response.headers.get("Retry-After")),
    );
  }
  return data;
}

const id = encodeURIComponent;

export const signUp = (name, password) => request("POST", "/users", { name, password });
export const signIn = (name, password) => request("POST", "/sessions", { name, password });
export const signOut = () => request("DELETE", "/sessions/current");
export const me = () => request("GET", "/users/me");
export const getUser = (userId) => request("GET", `/users/${id(userId)}`);
export const findUser = (name) => request("GET", `/users?name=${id(name)}`);
export const myRooms = (userId) => request("GET", `/users/${id(userId)}/rooms`);
export const openDirect = (userId) => request("PUT", `/users/${id(userId)}/direct`);
export const invitations = () => request("GET", "/users/me/invitations");
export const acceptInvitation = (invId) => request("POST", `/invitations/${id(invId)}/accept`);
export const declineInvitation = (invId) => request("POST", `/invitations/${id(invId)}/decline`);

export const rooms = () => request("GET", "/rooms");
export const getRoom = (roomId) => request("GET", `/rooms/${id(roomId)}`);
export const createRoom = (name, kind) => request("POST", "/rooms", { name, kind });
export const members = (roomId) => request("GET", `/rooms/${id(roomId)}/users`);
export const join = (roomId, userId) =>
  request("POST", `/rooms/${id(roomId)}/users`, { chat_user: userId });
export const leave = (roomId, userId) =>
  request("DELETE", `/rooms/${id(roomId)}/users/${id(userId)}`);
export const deleteRoom = (roomId) => request("DELETE", `/rooms/${id(roomId)}`);
export const invite = (roomId, userId) =>
  request("POST", `/rooms/${id(roomId)}/invitations`, { user: userId });

// The newest `limit` messages, or those right before / after a message id.
export function messages(roomId, { limit = 50, before, after } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  if (after) query.set("after", after);
  return request("GET", `/rooms/${id(roomId)}/messages?${query}`);
}
export const getMessage = (roomId, messageId) =>
  request("GET", `/rooms/${id(roomId)}/messages/${id(messageId)}`);
export const postMessage = (roomId, messageId, text, replyTo = null) =>
  request("POST", `/rooms/${id(roomId)}/messages`,
    replyTo ? { message: text, id: messageId, reply_to: replyTo } : { message: text, id: messageId });
export const editMessage = (roomId, messageId, text) =>
  request("PATCH", `/rooms/${id(roomId)}/messages/${id(messageId)}`, { message: text });
export const deleteMessage = (roomId, messageId) =>
  request("DELETE", `/rooms/${id(roomId)}/messages/${id(messageId)}`);
const reactionPath = (roomId, messageId, emoji) =>
  `/rooms/${id(roomId)}/messages/${id(messageId)}/reactions/${id(emoji)}`;
export const addReaction = (roomId, messageId, emoji) =>
  request("PUT", reactionPath(roomId, messageId, emoji));
export const removeReaction = (roomId, messageId, emoji) =>
  request("DELETE", reactionPath(roomId, messageId, emoji));
export const typing = (roomId) => request("POST", `/rooms/${id(roomId)}/typing`);

// Newest first; `room` (optional) limits it to one room.
export function searchMessages(q, { room, limit = 20, before } = {}) {
  const query = new URLSearchParams({ q, limit: String(limit) });
  if (room) query.set("room", room);
  if (before) query.set("before", before);
  return request("GET", `/search/messages?${query}`);
}
export const markRead = (roomId, messageId) =>
  request("PUT", `/rooms/${id(roomId)}/read`, { message: messageId });

// Network failures, 5xx and 429 are worth retrying; other errors are final.
export const isRetryable = (err) =>
  !(err instanceof ApiError) || err.status >= 500 || err.status === 429;
