// One outbox per room: my messages are posted in the order I typed them, one request at
// a time, so the server stores them in that order even when the network comes and goes.
//
// Each message keeps the client-generated id it got when typed, so a retry after a
// network error, 503 or 429 can never store it twice (the server answers 202 with the
// original). Retryable failures are retried by themselves (Retry-After honoured, else
// exponential backoff); the message shows "waiting" meanwhile and offers "Retry now".
// A final refusal (e.g. 400 message_too_long, 403 not_member) marks it failed with
// "Retry" and "Discard", and the queue moves on: one bad message must not hold back the
// others.

import { isRetryable } from "./api.js";

const MAX_BACKOFF_MS = 10000;

// post(msg) -> Promise (rejects with ApiError / TypeError); onChange(msg) after every
// state change of a message; isActive() false once the session that owns it ended.
export function createOutbox({ post, onChange, isActive }) {
  const queue = []; // messages not yet accepted, in typed order; failed ones stay in it
  let running = false;
  let wake = null; // resolves the current wait early (Retry now, back online)

  function add(msg) {
    msg.state = "sending";
    queue.push(msg);
    onChange(msg);
    run();
  }

  // The next message to send: the first one that has not failed for good.
  const next = () => queue.find((msg) => msg.state !== "failed");

  async function run() {
    if (running) return;
    running = true;
    try {
      for (let msg = next(); msg && isActive(); msg = next()) await sendOne(msg);
    } finally {
      running = false;
    }
  }

  async function sendOne(msg) {
    for (let attempt = 0; isActive(); attempt++) {
      try {
        await post(msg);
        remove(msg);
        msg.state = "sent"; // accepted; confirmed once the stream delivers it
        onChange(msg);
        return;
      } catch (err) {
        if (!isRetryable(err)) {
          msg.state = "failed";
          msg.error = err.message;
          onChange(msg);
          return;
        }
        // Stays "waiting" through the retries (no flicker, and its "Retry now" button
        // stays the same element) until it is accepted or refused for good.
        if (msg.state !== "waiting") {
          msg.state = "waiting";
          onChange(msg);
        }
        await pause(err.retryAfterMs ?? backoff(attempt));
      }
    }
  }

  const backoff = (attempt) =>
    Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);

  function pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });
  }

  function remove(msg) {
    const index = queue.indexOf(msg);
    if (index >= 0) queue.splice(index, 1);
  }

  return {
    add,
    // Sends again now: a failed message goes back in its place in the queue.
    retry(msg) {
      if (msg.state === "failed") {
        msg.state = "sending";
        msg.error = null;
        onChange(msg);
      }
      wake?.();
      run();
    },
    // Stops waiting (e.g. the browser is back online).
    nudge() {
      wake?.();
      run();
    },
    discard(msg) {
      if (msg.state !== "failed") return false;
      remove(msg);
      return true;
    },
    has: (id) => queue.some((msg) => msg.id === id),
    messages: () => [...queue],
  };
}
