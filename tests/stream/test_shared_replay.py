"""Streams resuming from the same place share one read of the range they missed
(chat/realtime/shared_reads.py). What they get must still be what the database says now:
after an edit or a deletion, the next resume from the same place shows the new text and
never the deleted one."""

from __future__ import annotations

from tests.support.server import ChatClient

WAIT = 10


def _replayed(reader, last_event_id, until_id):
    """Every event after `ready` up to the message `until_id`, from a resume."""
    with reader.subscribe(last_event_id) as sse:
        sse.wait_ready(WAIT)
        events = sse.events_until(
            lambda e: e.event == "message" and e.json()["id"] == until_id, WAIT)
    return [(e.event, e.json()) for e in events if e.event != "presence"]


def test_a_resume_after_an_edit_and_a_deletion_shows_the_database_as_it_is(live_server):
    writer = ChatClient(live_server.api).register()
    reader = ChatClient(live_server.api).register()
    room = writer.create_room()["id"]
    reader.join(room)
    anchor = writer.post_message(room, "before")
    kept = writer.post_message(room, "typo hree")
    doomed = writer.post_message(room, "secret to delete")
    # Two resumes from the anchor: the second is answered from the first one's read.
    for _ in range(2):
        first = _replayed(reader, anchor["id"], doomed["id"])
        assert [m["message"] for kind, m in first if kind == "message"] == \
            ["typo hree", "secret to delete"]
    edited = writer.request("PATCH", f"/rooms/{room}/messages/{kept['id']}",
                            json={"message": "typo here"})
    assert edited.status_code == 200, edited.text
    assert writer.delete(f"/rooms/{room}/messages/{doomed['id']}").status_code == 204
    last = writer.post_message(room, "after")
    again = _replayed(reader, anchor["id"], last["id"])
    assert [kind for kind, _ in again] == ["message", "edit", "delete", "message"]
    assert again[0][1]["message"] == "typo here"  # the message as it is now
    assert (again[1][1]["id"], again[1][1]["message"]) == (kept["id"], "typo here")
    assert again[2][1]["message"] == doomed["id"]
    assert "secret" not in repr(again)  # a deleted text is never replayed
