"""A stream's outgoing buffer (chat/realtime/hub.py, Stream): events in order, an idle
wait that ends at its timeout, a close that wakes the waiting writer at once, the bounds
that protect everyone else from a slow client, and direct writes to the socket while the
response waits."""

import threading
import time

from chat.realtime import order
from chat.realtime.hub import CLOSE, RAW, Hub, Stream


def test_events_come_out_in_order_and_an_idle_wait_ends_at_its_timeout():
    stream = Stream("u", "s", capacity=10)
    stream.push(1, b"a")
    stream.offer(b"typing")
    stream.push(2, b"b")
    assert [stream.get(1), stream.get_nowait(), stream.get(1)] == \
        [(1, b"a"), (None, b"typing"), (2, b"b")]
    assert stream.get_nowait() is None
    started = time.monotonic()
    assert stream.get(0.05) is None
    assert time.monotonic() - started >= 0.04


def test_a_push_or_a_close_wakes_a_waiting_writer_at_once():
    stream = Stream("u", "s", capacity=10)
    got = []
    reader = threading.Thread(target=lambda: got.extend([stream.get(5), stream.get(5)]))
    reader.start()
    time.sleep(0.05)  # let the reader block in its wait (what is under test)
    started = time.monotonic()
    stream.push(1, b"a")
    stream.close("signed out")
    reader.join(5)
    assert got == [(1, b"a"), CLOSE]
    assert time.monotonic() - started < 1


def test_a_full_buffer_closes_the_stream_and_typing_never_fills_it():
    stream = Stream("u", "s", capacity=4)
    for n in range(4):
        stream.offer(b"typing")  # dropped once the buffer is half full
    assert [stream.get_nowait() for _ in range(3)] == [(None, b"typing")] * 2 + [None]
    for seq in range(1, 6):
        stream.push(seq, b"m")
    assert stream.closed and stream.close_reason == "slow consumer"
    items = [stream.get_nowait() for _ in range(6)]
    assert items == [(1, b"m"), (2, b"m"), (3, b"m"), (4, b"m"), CLOSE, None]
    stream.push(6, b"late")  # nothing is buffered after the close
    assert stream.get_nowait() is None


# -- direct writes: a push while the response waits with nothing buffered ---------------


class Socket:
    """A writer for Stream.writer that takes at most `room` bytes (None: everything)."""

    def __init__(self, room=None):
        self.room = room
        self.written = []

    def __call__(self, data):
        taken = data if self.room is None else data[:self.room]
        if self.room is not None:
            self.room -= len(taken)
        if taken:
            self.written.append(taken)
        return data[len(taken):] or None


def _waiting(stream):
    """A reader blocked in stream.get(5); returns (thread, what it got)."""
    got = []
    reader = threading.Thread(target=lambda: got.append(stream.get(5)))
    reader.start()
    deadline = time.monotonic() + 5
    while not stream._waiting:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    return reader, got


def test_a_push_to_a_waiting_stream_is_written_at_once_in_one_write():
    stream = Stream("u", "s", capacity=10)
    stream.writer = socket = Socket()
    stream.last_seq = 2  # what the replay sent
    reader, got = _waiting(stream)
    stream.push_many([(2, b"replayed "), (3, b"a "), (None, b"presence "), (4, b"b")])
    assert socket.written == [b"a presence b"]  # one write; seq 2 was already sent
    assert stream.last_seq == 4 and stream.get_nowait() is None
    assert reader.is_alive()  # the response was not woken
    stream.close("signed out")
    reader.join(5)
    assert got == [CLOSE]


def test_what_the_socket_does_not_take_comes_first_and_the_rest_queues_behind_it():
    stream = Stream("u", "s", capacity=10)
    stream.writer = socket = Socket(room=3)
    reader, got = _waiting(stream)
    stream.push(1, b"hello")
    reader.join(5)
    assert socket.written == [b"hel"]
    assert got[0][0] is RAW and got[0][1] == b"lo"  # framed bytes, for the response
    # The response now writes (it is not waiting): later pushes queue, in order.
    socket.room = None
    stream.push(2, b"next")
    assert socket.written == [b"hel"]
    assert stream.get_nowait() == (2, b"next")


def test_no_direct_write_unless_waiting_with_nothing_buffered():
    stream = Stream("u", "s", capacity=10)
    stream.writer = socket = Socket()
    stream.push(1, b"a")  # nobody waiting: buffered
    assert socket.written == [] and stream.get_nowait() == (1, b"a")
    stream.close("gone")
    stream.push(2, b"b")
    assert socket.written == [] and stream.get_nowait() is CLOSE


def test_a_log_event_reaches_each_stream_in_one_push():
    """Three messages and a membership change in one batch: each recipient stream is
    written once, with its entries in order (hub.Hub._on_log)."""
    hub = Hub(max_streams_per_user=5, buffer_size=100)
    view = type("View", (), {"rooms_at": lambda self, place: {"r"},
                             "follow": lambda self, changes: None})()
    streams = []
    for user in ("alice", "bob"):
        stream = hub.open(user, "s")
        hub.rooms_loaded(stream, view, 0)
        stream.writer = Socket()
        streams.append(stream)
    readers = [_waiting(stream) for stream in streams]
    def message(seq, user):
        return {"kind": "message", "seq": seq, "id": f"m{seq}", "room": "r", "user": user,
                "message": "hi", "created_at": "2026-01-01T00:00:00.000000Z",
                "reply_to": None, "edited_at": None, "mentions": [], "reactions": []}

    entries = [message(1, "alice"),
               {"kind": "membership", "seq": 2, "room": "r", "user": "carol",
                "action": "joined"},
               message(3, "bob")]
    hub.handle(order.log_event(entries, 1, 3))
    for stream in streams:
        [write] = stream.writer.written
        assert write.index(b"m1") < write.index(b"membership") < write.index(b"m3")
        hub.close(stream)
    for reader, got in readers:
        reader.join(5)
        assert got == [CLOSE]


def test_the_nonblocking_writer_frames_and_hands_back_what_the_socket_refuses():
    """On a real socket pair: a chunk as gunicorn frames it; once the peer stops reading,
    the part the kernel did not take (framed) comes back; a peer that is gone gives the
    whole frame back instead of raising."""
    import socket

    from chat.realtime.stream import nonblocking_writer

    ours, peer = socket.socketpair()
    try:
        ours.setblocking(False)
        write = nonblocking_writer(ours, chunked=True)
        assert write(b"data: hi\n\n") is None
        assert peer.recv(100) == b"A\r\ndata: hi\n\n\r\n"
        assert nonblocking_writer(ours, chunked=False)(b"raw") is None
        assert peer.recv(100) == b"raw"
        big = b"x" * (8 << 20)  # more than both kernel buffers hold
        rest = write(big)
        frame = b"800000\r\n" + big + b"\r\n"
        assert rest and frame.endswith(rest) and len(rest) < len(frame)
        assert write(b"more") == b"4\r\nmore\r\n"  # full: nothing taken
        peer.close()
        assert write(b"late") == b"4\r\nlate\r\n"  # gone
    finally:
        ours.close()
        peer.close()


def test_writing_the_rest_to_a_client_that_is_gone_ends_quietly():
    """The response's write of a direct write's rest: False (end the stream) when the
    client has gone, and the stream is no longer marked as sending."""
    import socket

    from chat.realtime.stream import _write_raw

    stream = Stream("u", "s", capacity=10)
    ours, peer = socket.socketpair()
    try:
        assert _write_raw(stream, ours, b"rest") and peer.recv(10) == b"rest"
        peer.close()
        assert not _write_raw(stream, ours, b"x" * (1 << 20))
        assert not stream.sending
    finally:
        ours.close()
