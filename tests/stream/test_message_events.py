"""Edits, deletions and reactions in the stream (API.md 1.1): named events without an
`id:` line, to every member, in the room's stored order relative to its messages; never
to someone who was not a member at that place; replayed on resume (applying one twice
leaves the same result)."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import quote

from tests.support.checks import WAIT
from tests.support.server import ChatClient

CHANGES = ("edit", "delete", "reaction")


def _until_marker(sse, poster):
    """Every event up to a marker posted in `general` now: each host applies the order
    in sequence, so everything stored before the marker has arrived by then."""
    marker = poster.post_message(poster.general_room()["id"], f"marker {uuid.uuid4()}")
    return sse.events_until(
        lambda e: e.event == "message" and e.json()["id"] == marker["id"], timeout=WAIT)


def _room_events(events, room_id):
    """(event name, what it is about) for the room's chat messages and message changes."""
    out = []
    for event in events:
        if event.event == "message" and event.json()["room"] == room_id:
            out.append(("message", event.json()["message"]))
        elif event.event in CHANGES and event.json()["room"] == room_id:
            data = event.json()
            about = {"edit": lambda: data["id"], "delete": lambda: data["message"],
                     "reaction": lambda: (data["emoji"], data["action"])}[event.event]()
            out.append((event.event, about))
    return out


def _react(client, room_id, message_id, emoji, method="PUT"):
    path = f"/rooms/{room_id}/messages/{message_id}/reactions/{quote(emoji, safe='')}"
    response = client.request(method, path)
    assert response.status_code == 204, response.text
    return response


def _edit(client, room_id, message_id, text):
    response = client.request("PATCH", f"/rooms/{room_id}/messages/{message_id}",
                              json={"message": text})
    assert response.status_code == 200, response.text
    return response.json()


def _delete(client, room_id, message_id):
    response = client.delete(f"/rooms/{room_id}/messages/{message_id}")
    assert response.status_code == 204, response.text


def test_changes_arrive_in_the_rooms_order_as_named_events_without_id(live_server):
    alice = ChatClient(live_server.api).register()
    bob = ChatClient(live_server.api).register()
    room = alice.create_room()
    bob.join(room["id"])
    with bob.subscribe() as sse:
        sse.wait_ready(WAIT)
        m1 = alice.post_message(room["id"], "one")
        edited = _edit(alice, room["id"], m1["id"], "one, edited")
        m2 = alice.post_message(room["id"], "two")
        _react(bob, room["id"], m2["id"], "👍")
        _react(bob, room["id"], m2["id"], "👍")  # idempotent: no second event
        _delete(alice, room["id"], m1["id"])
        _react(bob, room["id"], m2["id"], "👍", "DELETE")
        events = _until_marker(sse, alice)
    assert _room_events(events, room["id"]) == [
        ("message", "one"), ("edit", m1["id"]), ("message", "two"),
        ("reaction", ("👍", "added")), ("delete", m1["id"]), ("reaction", ("👍", "removed"))]
    changes = {e.event: e for e in events if e.event in CHANGES}
    assert all(not e.has_id_field for e in changes.values())
    assert changes["edit"].json() == edited
    assert changes["delete"].json() == {"room": room["id"], "message": m1["id"]}
    reaction = [e.json() for e in events if e.event == "reaction"][0]
    assert reaction == {"room": room["id"], "message": m2["id"], "emoji": "👍",
                        "user": bob.id, "action": "added"}


def test_changes_never_reach_someone_who_was_not_a_member_at_that_place(live_server):
    owner = ChatClient(live_server.api).register()
    leaver = ChatClient(live_server.api).register()
    outsider = ChatClient(live_server.api).register()
    room = owner.create_room()
    leaver.join(room["id"])
    message = owner.post_message(room["id"], "before")
    with leaver.subscribe() as leaver_sse, outsider.subscribe() as outsider_sse:
        leaver_sse.wait_ready(WAIT)
        outsider_sse.wait_ready(WAIT)
        _react(leaver, room["id"], message["id"], "🎉")
        assert leaver.leave(room["id"]).status_code == 204
        _edit(owner, room["id"], message["id"], "after the leave")
        _react(owner, room["id"], message["id"], "👀")
        _delete(owner, room["id"], message["id"])
        seen_by_leaver = _until_marker(leaver_sse, owner)
        seen_by_outsider = _until_marker(outsider_sse, owner)
    assert _room_events(seen_by_leaver, room["id"]) == [("reaction", ("🎉", "added"))]
    kinds = [(e.event, e.json().get("action")) for e in seen_by_leaver
             if e.event in ("reaction", "membership")]
    assert kinds == [("reaction", "added"), ("membership", "left")]
    assert _room_events(seen_by_outsider, room["id"]) == []


def test_resume_replays_the_changes_missed_and_applying_twice_is_harmless(live_server):
    alice = ChatClient(live_server.api).register()
    bob = ChatClient(live_server.api).register()
    room = alice.create_room()
    bob.join(room["id"])
    with bob.subscribe() as sse:
        sse.wait_ready(WAIT)
        m1 = alice.post_message(room["id"], "seen live")
        sse.events_until(lambda e: e.event == "message" and e.json()["id"] == m1["id"],
                         timeout=WAIT)
    # While bob is away: two edits, a reaction, a message that is deleted again, another.
    _edit(alice, room["id"], m1["id"], "first edit")
    _edit(alice, room["id"], m1["id"], "second edit")
    _react(alice, room["id"], m1["id"], "❤️")
    gone = alice.post_message(room["id"], "soon gone")
    _delete(alice, room["id"], gone["id"])
    m3 = alice.post_message(room["id"], "still here")
    with bob.subscribe(last_event_id=m1["id"]) as sse:
        sse.wait_ready(WAIT)
        replayed = _until_marker(sse, alice)
    assert _room_events(replayed, room["id"]) == [
        ("edit", m1["id"]), ("edit", m1["id"]), ("reaction", ("❤️", "added")),
        ("delete", gone["id"]), ("message", "still here")]
    # Each replayed edit shows the message as it is now: applied in any number, the last
    # text wins, with the reaction it has.
    for edit in [e.json() for e in replayed if e.event == "edit"]:
        assert edit["message"] == "second edit" and edit["edited_at"] is not None
        assert [r["emoji"] for r in edit["reactions"]] == ["❤️"]
    assert [e.id for e in replayed if e.event == "message"][0] == m3["id"]

    # A deleted message's id still resumes (no reset): everything after it comes.
    with bob.subscribe(last_event_id=gone["id"]) as sse:
        sse.wait_ready(WAIT)
        after_gone = _until_marker(sse, alice)
    assert "reset" not in [e.event for e in after_gone]
    assert _room_events(after_gone, room["id"]) == [("delete", gone["id"]),
                                                    ("message", "still here")]


def test_an_edit_racing_a_reconnect_arrives_exactly_once(live_server):
    """Changes committed while a stream opens are in the replay or live, never both."""
    alice = ChatClient(live_server.api).register()
    bob = ChatClient(live_server.api).register()
    room = alice.create_room()
    bob.join(room["id"])
    anchor = alice.post_message(room["id"], "anchor")
    texts = [f"edit {i}" for i in range(20)]
    def edits():
        for text in texts:
            _edit(alice, room["id"], anchor["id"], text)

    editor = threading.Thread(target=edits)
    editor.start()
    with bob.subscribe(last_event_id=anchor["id"]) as sse:
        sse.wait_ready(WAIT)
        editor.join()
        seen = _until_marker(sse, alice)
    edits_seen = [e for e in seen if e.event == "edit"]
    assert len(edits_seen) == len(texts)
    assert edits_seen[-1].json()["message"] == texts[-1]
