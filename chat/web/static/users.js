// Who is who: user names by id, fetched once and shared by every part of the page.

import * as api from "./api.js";

const users = new Map(); // id -> Promise<User>
export const names = new Map(); // id -> name, once known

export function rememberUser(user) {
  names.set(user.id, user.name);
  users.set(user.id, Promise.resolve(user));
}

export function lookupUser(id) {
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
export function authorName(id, later) {
  if (names.has(id)) return names.get(id);
  lookupUser(id).then((user) => later(user.name), () => later("unknown user"));
  return null;
}

export async function findUserByName(name) {
  const [user] = await api.findUser(name);
  if (!user) throw new api.ApiError(404, "not_found", `There is no user named “${name}”.`);
  return user;
}
