"""The test SSE parser against the WHATWG "Interpreting an event stream" rules."""

from __future__ import annotations

import pytest

from tests.support.sse import Comment, Event, Retry, SSEParser


def parse(*chunks: bytes) -> list:
    parser = SSEParser()
    return [item for chunk in chunks for item in parser.feed(chunk)]


def events(*chunks: bytes) -> list[Event]:
    return [i for i in parse(*chunks) if isinstance(i, Event)]


def test_simple_message_defaults():
    assert parse(b"data: hello\n\n") == [Event("message", "hello", None, False)]


def test_event_type_id_and_json():
    [ev] = events(b'event: ready\nid: 42\ndata: {"a": 1}\n\n')
    assert (ev.event, ev.id, ev.has_id_field, ev.json()) == ("ready", "42", True, {"a": 1})


def test_multiline_data_joined_with_lf():
    assert events(b"data: a\ndata:b\ndata:  c\n\n")[0].data == "a\nb\n c"


def test_empty_data_line_dispatches_empty_string():
    # "data" with no value appends "\n"; the buffer is non-empty, so the event fires.
    assert events(b"data\n\n") == [Event("message", "", None, False)]
    assert events(b"data:\ndata:\n\n")[0].data == "\n"


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending(eol):
    stream = b"event: x" + eol + b"data: 1" + eol + b"data: 2" + eol + eol
    assert events(stream) == [Event("x", "1\n2", None, False)]


def test_mixed_line_endings():
    stream = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r"
    assert [e.data for e in events(stream)] == ["a\nb\nc", "d"]


def test_crlf_counts_as_one_break_not_two():
    # If CR and LF were two breaks, the LF would be a blank line dispatching early.
    assert events(b"data: a\r\ndata: b\r\n\r\n") == [Event("message", "a\nb", None, False)]


def test_crlf_split_across_chunks():
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r") == []
    assert parser.feed(b"\n\r") == [Event("message", "a\nb", None, False)]
    assert parser.feed(b"\n") == []  # the LF completing the final CRLF is no new line
    assert parser.feed(b"data: c\n\n")[0].data == "c"


def test_cr_at_chunk_end_then_non_lf():
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    # The CR already ended the line; "\r" + "data..." is a blank line then a new field.
    assert parser.feed(b"\rdata: b\n\n") == [Event("message", "a", None, False),
                                             Event("message", "b", None, False)]


def test_cr_ends_line_immediately():
    # A lone CR at a chunk end must dispatch without waiting for the next byte.
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == [Event("message", "a", None, False)]


def test_every_split_point_gives_the_same_result():
    stream = ("\ufeffretry: 1500\r\n: keepalive\r\nevent: ready\r\ndata: {\"ü\": 1}\r\n\r\n"
              "id: m1\ndata: x\n\n: c\rdata: y\r\r").encode()
    whole = parse(stream)
    assert len(whole) == 6
    for cut in range(len(stream) + 1):
        assert parse(stream[:cut], stream[cut:]) == whole, cut
    assert parse(*(stream[i:i + 1] for i in range(len(stream)))) == whole


def test_utf8_split_inside_a_character():
    data = "data: héllo €\n\n".encode()
    cut = data.index("€".encode()) + 1
    assert events(data[:cut], data[cut:])[0].data == "héllo €"


def test_invalid_utf8_is_replaced():
    assert events(b"data: a\xffb\n\n")[0].data == "a\ufffdb"


def test_comments_reported_separately():
    items = parse(b": keepalive\n:\n:  two spaces\ndata: x\n\n")
    assert items == [Comment("keepalive"), Comment(""), Comment(" two spaces"),
                     Event("message", "x", None, False)]


def test_comment_does_not_end_event():
    assert events(b"data: a\n: keepalive\ndata: b\n\n")[0].data == "a\nb"


def test_only_one_leading_space_stripped():
    assert events(b"data:  two\n\n")[0].data == " two"
    assert events(b"data:no-space\n\n")[0].data == "no-space"
    assert events(b"data:\tTab\n\n")[0].data == "\tTab"


def test_value_split_on_first_colon_only():
    assert events(b"data: a: b:c\n\n")[0].data == "a: b:c"


def test_field_without_colon_has_empty_value():
    # "event" alone sets the type to "" → the default "message".
    assert events(b"event: x\nevent\ndata: d\n\n")[0].event == "message"
    assert events(b"id: 1\ndata: a\n\nid\ndata: b\n\n")[1].id is None


def test_field_names_are_case_sensitive_and_unknown_ignored():
    assert events(b"Data: x\nDATA: y\nfoo: bar\ndata: z\n\n") == [Event("message", "z", None, False)]
    assert events(b"data : x\n\n") == []  # field name is "data " (with the space)


def test_event_type_resets_after_dispatch():
    evs = events(b"event: a\ndata: 1\n\ndata: 2\n\n")
    assert [e.event for e in evs] == ["a", "message"]


def test_id_persists_across_events():
    evs = events(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n")
    assert [(e.id, e.has_id_field) for e in evs] == [("1", True), ("1", False), ("2", True)]


def test_id_set_in_block_without_data_still_persists():
    # No event is dispatched, but the last event ID buffer keeps the value.
    evs = events(b"id: 7\n\ndata: x\n\n")
    assert evs == [Event("message", "x", "7", False)]


def test_empty_id_resets_last_event_id():
    evs = events(b"id: 1\ndata: a\n\nid:\ndata: b\n\n")
    assert [(e.id, e.has_id_field) for e in evs] == [("1", True), (None, True)]


def test_id_containing_nul_is_ignored():
    evs = events(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in evs] == ["1", "1"]
    assert evs[1].has_id_field  # the line was present, even though ignored


def test_id_value_kept_verbatim():
    assert events(b"id:  spaced \ndata: a\n\n")[0].id == " spaced "


def test_retry_digits_only():
    parser = SSEParser()
    assert parser.feed(b"retry: 3000\n") == [Retry(3000)]
    for bad in (b"retry: 3s\n", b"retry: -1\n", b"retry: 1.5\n", b"retry:  10\n",
                b"retry:\n", b"retry\n", "retry: ²\n".encode()):
        assert parser.feed(bad) == [], bad
    assert parser.retry == 3000
    assert parser.feed(b"retry: 0\n") == [Retry(0)]


def test_retry_alone_does_not_dispatch():
    assert parse(b"retry: 10\n\n") == [Retry(10)]


def test_no_trailing_blank_line_not_dispatched():
    parser = SSEParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"data: b") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\n") == [Event("message", "a\nb", None, False)]


def test_blank_lines_without_data_dispatch_nothing():
    assert parse(b"\n\n\nevent: x\n\nid: 1\n\n") == []


def test_leading_bom_ignored_once():
    assert events(b"\xef\xbb\xbfdata: a\n\n")[0].data == "a"
    # Split BOM across chunks.
    assert events(b"\xef", b"\xbb\xbfdata: a\n\n")[0].data == "a"
    # A second BOM is not stripped: it becomes part of the field name → unknown field.
    assert events(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n") == []
    # A BOM later in the stream is ordinary text.
    assert events(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [Event("message", "a", None, False)]


def test_items_in_stream_order():
    items = parse(b"retry: 5\n: hi\nevent: ready\ndata: {}\n\n: keepalive\nid: m\ndata: 1\n\n")
    assert items == [Retry(5), Comment("hi"), Event("ready", "{}", None, False),
                     Comment("keepalive"), Event("message", "1", "m", True)]


def test_chat_message_frame_from_api_md():
    frame = (b'id: 8f102c70-8eba-4094-bd4d-7f70d71b21f2\n'
             b'data: {"id":"8f102c70-8eba-4094-bd4d-7f70d71b21f2","message":"Hello"}\n\n')
    [ev] = events(frame)
    assert ev.event == "message" and ev.has_id_field
    assert ev.id == ev.json()["id"] == "8f102c70-8eba-4094-bd4d-7f70d71b21f2"
