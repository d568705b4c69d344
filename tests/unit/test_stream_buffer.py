"""A stream's outgoing buffer (chat/realtime/hub.py, Stream): events in order, an idle
wait that ends at its timeout, a close that wakes the waiting writer at once, and the
bounds that protect everyone else from a slow client."""

import threading
import time

from chat.realtime.hub import CLOSE, Stream


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
