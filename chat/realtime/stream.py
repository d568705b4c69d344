"""The SSE generator of one `GET /users/{id}/subscribe`: ready, replay, live, keepalive.

Order of work, and why:
1. register the stream in the hub (membership changes of the user start being recorded);
2. read the committed place V and the user's rooms at V in one statement, so in one
   snapshot (order.committed_and_rooms), and for a resume their membership changes
   after the anchor (order.MembershipView); V is read after step 1, so every change the
   hub applies beyond V is recorded;
3. bring the hub up to V (the ordered feed reads what has not arrived), then set the
   stream's rooms at the hub's place P >= V: the rooms at V plus the changes recorded
   since; live entries after P are buffered from here on;
4. send `retry` and `ready`;
5. replay from the database everything in (anchor, P] the user was entitled to — the
   anchor being `Last-Event-ID`'s place, or V without one — then
6. hand over to the live buffer, dropping what the replay already covered (by seq)."""

import random
import socket
import struct
import time
import uuid
from datetime import datetime, timezone

import gevent
from flask import Response, request
from gevent import monkey
from sqlalchemy import select

from chat.extensions import autocommit_connection, db
from chat.models import Message
from chat.realtime import events, order
from chat.realtime.hub import CLOSE, RAW, ShuttingDown

# Each stream's reconnection delay is drawn at random, so the clients of a restarted
# server do not all come back in the same instant.
RETRY_MS = (1000, 5000)
MAX_WRITE = 64 * 1024  # most bytes of buffered events written at once
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def _retry():
    return events.retry(random.randint(*RETRY_MS))


def open_stream(realtime, user_id, session_id, last_event_id, expires_at, keepalive,
                replay_limit):
    """Registers the stream and returns the streaming response; it ends when the session
    expires (`expires_at`, aware UTC), like on sign-out. Raises TooManyStreams."""
    hub = realtime.hub
    try:
        stream = hub.open(str(user_id), str(session_id))
    except ShuttingDown:
        # This worker is stopping: end at once, before `ready`. The client reconnects
        # after `retry` with its Last-Event-ID and resumes on a server that is up.
        return Response(_retry(), mimetype="text/event-stream", headers=SSE_HEADERS)
    # The feed reads with a connection of its own, under its lock, and so does presence
    # (in rooms_loaded): holding the request's connection meanwhile would let concurrent
    # opens take every pooled connection and wait for each other until the pool's
    # timeout. So the request holds at most one at a time.
    db.session.remove()
    try:
        # A reconnect storm queues here, holding no connection and with no timeout,
        # instead of in the pool, where waiting longer than pool_timeout fails.
        with realtime.opening_slots:
            epoch = realtime.access.epoch  # before the read: a kick during it must win
            # Reads only, each its own snapshot: in autocommit each is one round trip,
            # with no BEGIN before and no ROLLBACK after.
            with autocommit_connection(db.engine) as connection:
                committed, rooms_now = order.committed_and_rooms(connection, user_id)
                anchor, reset = _anchor(connection, last_event_id, committed)
                # Without Last-Event-ID the anchor is the place the rooms were read at:
                # no change after it can be in them, and there is none to read.
                changes = (order.membership_changes(connection, user_id, anchor)
                           if anchor < committed else [])
            view = order.MembershipView(rooms_now, changes, anchor)
            realtime.feed.catch_up(committed)
            # A page that (re)connects is about to type and post in these rooms.
            realtime.access.keep_members(view.current_rooms, user_id, epoch)
            rooms, position = hub.rooms_loaded(stream, view, committed)
            missed = reset or _replay(realtime, user_id, view, anchor, position,
                                      replay_limit)
    except BaseException:
        hub.close(stream)
        raise
    finally:
        db.session.remove()  # never hold a pooled connection for the life of a stream

    connection = request.environ.get("gunicorn.socket")
    hangup_watch = _watch_for_hangup(connection, lambda: hub.close(stream, "client gone"))
    direct_writer = _direct_writer(connection, request.environ)

    # The expiry as a monotonic deadline: the loop below checks it on every wake-up.
    session_ends = time.monotonic() + (expires_at - datetime.now(timezone.utc)).total_seconds()

    def generate(replayed):
        try:
            yield _retry() + events.named(
                "ready", {"user": str(user_id), "rooms": sorted(rooms)})
            stream.last_seq = position
            yield from _joined(replayed)
            # A resume's replay, let go of once written: the stream may live for hours.
            del replayed
            # From here on, while this waits with nothing buffered, a push may write to
            # the socket itself (hub.Stream); everything yielded before is written.
            stream.writer = direct_writer
            stream.written_at = time.monotonic()
            while not stream.closed:
                now = time.monotonic()
                left = session_ends - now
                if left <= 0:
                    return  # the session expired: the client must sign in again
                quiet = now - stream.written_at  # direct writes count too
                if quiet >= keepalive:
                    stream.written_at = now
                    yield events.KEEPALIVE
                    continue
                item = stream.get(min(keepalive - quiet, left))
                if item is None:
                    continue
                stream.written_at = time.monotonic()
                if item is not CLOSE and item[0] is RAW:
                    # The rest of a direct write, already framed: before anything else.
                    if not _write_raw(stream, connection, item[1]):
                        return  # the client is gone
                    continue
                # Everything already buffered goes out in one write: under load one
                # write per event costs more than the events themselves.
                chunks, size = [], 0
                while item is not None:
                    if stream.closed:  # closed (slow, signed out, shutdown): stop now
                        return
                    seq, data = item
                    if stream.is_new(seq):
                        chunks.append(data)
                        size += len(data)
                    if size >= MAX_WRITE:
                        break
                    item = stream.get_nowait()
                if chunks:
                    yield b"".join(chunks)
        finally:
            hub.close(stream)
            if hangup_watch is not None:
                hangup_watch.stop()

    stream.abort = _aborter(connection)
    # No request context is kept for the life of the stream: the generator needs none.
    response = Response(_tracking_writes(stream, generate(missed)),
                        mimetype="text/event-stream", headers=SSE_HEADERS)
    response.direct_passthrough = True
    return response


def _joined(chunks):
    """The chunks joined into writes of about MAX_WRITE bytes."""
    piece, size = [], 0
    for chunk in chunks:
        piece.append(chunk)
        size += len(chunk)
        if size >= MAX_WRITE:
            yield b"".join(piece)
            piece, size = [], 0
    if piece:
        yield b"".join(piece)


def _tracking_writes(stream, chunks):
    """Marks `stream.sending` while each chunk is being written to the client, so that
    closing the stream then (a slow client) can end the connection (see Stream.close)."""
    try:
        for chunk in chunks:
            stream.sending = True
            yield chunk  # resumes once the server has written it
            stream.sending = False
    finally:
        stream.sending = False
        chunks.close()


def _direct_writer(sock, environ):
    """A writer for Stream.writer (`nonblocking_writer` on the client's socket), or None
    outside gunicorn's gevent worker, and for HEAD, whose body the server must not send."""
    raw = _plain_socket(sock)
    if raw is None or environ["REQUEST_METHOD"] != "GET":
        return None
    return nonblocking_writer(raw, chunked=environ.get("SERVER_PROTOCOL") != "HTTP/1.0")


def nonblocking_writer(raw, chunked):
    """(bytes) -> None once written, else the framed bytes the socket did not take. Frames
    as the server would: a chunk of HTTP/1.1 chunked encoding, nothing for HTTP/1.0."""
    def write(data):
        frame = b"%X\r\n%b\r\n" % (len(data), data) if chunked else data
        try:
            sent = raw.send(frame, socket.MSG_DONTWAIT)
        except OSError:  # full (BlockingIOError), or gone: the response's write finds out
            return frame
        return frame[sent:] if sent < len(frame) else None
    return write


def _write_raw(stream, sock, data):
    """Writes bytes already framed (the rest of a direct write); False if the client is
    gone. Marked as sending: a stream closed meanwhile aborts the connection."""
    stream.sending = True
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False
    finally:
        stream.sending = False


def _plain_socket(sock):
    """The OS socket under gevent's, or None outside gunicorn's gevent worker."""
    raw = getattr(sock, "_sock", sock)
    return raw if raw is not None and monkey.is_module_patched("socket") else None


def _aborter(sock):
    """Ends the client connection at once: a reset that drops whatever the kernel still
    holds for it, and a greenlet blocked writing to it fails and lets go of the stream."""
    # gevent's own shutdown() would fail the blocked write with EBADF, which gunicorn logs
    # as an error; on the plain socket the write wakes up with EPIPE, a normal hang-up.
    raw = getattr(sock, "_sock", sock)

    def abort():
        if raw is None:
            return
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
    return abort


def _watch_for_hangup(sock, on_hangup):
    """Calls `on_hangup` as soon as the client closes the connection; returns the
    watcher (stop it when the stream ends), or None outside gevent (gunicorn's worker).

    EventSource sends nothing after its request, so the socket turning readable with no
    data means the client went away. Noticing it now rather than at the next keepalive
    write (up to CHAT_KEEPALIVE_SECONDS later) frees the user's stream slot and starts the
    presence grace period at once. A libev watcher with a callback costs a few hundred
    bytes where a greenlet waiting on the socket cost about 10 KiB per stream.
    """
    raw = _plain_socket(sock)
    if raw is None:
        return None
    try:
        watcher = gevent.get_hub().loop.io(raw.fileno(), 1)  # 1: readable
    except (OSError, ValueError):
        return None

    def readable():
        watcher.stop()
        try:
            if raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b"":
                return  # the client sent something: not a hang-up, stop watching
        except BlockingIOError:
            return
        except (OSError, ValueError):
            pass  # the socket is already gone: so is the client
        gevent.spawn(on_hangup)  # the event loop's callback must not block: hand over

    watcher.start(readable)
    return watcher


def _anchor(connection, last_event_id, committed):
    """(the place to replay after, None) for a resume; (committed, [reset]) when
    `last_event_id` names no stored message; (committed, None) without one."""
    if last_event_id is None:
        return committed, None
    try:
        seq = connection.scalar(select(Message.seq).where(
            Message.id == uuid.UUID(last_event_id)))
    except ValueError:
        seq = None
    if seq is None:
        return committed, [events.named("reset", {"reason": "unknown_event_id"})]
    return min(seq, committed), None


def _replay(realtime, user_id, view, anchor, position, limit):
    """The SSE chunks of what the user missed in (anchor, position], or a `reset` when
    more than `limit` messages are missing. Streams resuming from the same place share
    one read of the range (shared_reads.py)."""
    if position <= anchor:
        return []
    entries = order.replay(db.session, user_id, view, anchor, position,
                           read=realtime.shared_reads.read)
    if sum(1 for entry in entries if entry["kind"] == "message") > limit:
        return [events.named("reset", {"reason": "too_many_missed"})]
    return [events.entry(entry) for entry in entries]
