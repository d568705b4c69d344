"""Membership has a place in the stored order (API.md 1.1): a message stored after a kick
never reaches the kicked user, one stored after a join always reaches the joiner, and a
resume replays a room left while offline up to the leave, followed by its membership
event."""

from __future__ import annotations

import uuid

from tests.support.server import ChatClient


def _events_until_marker(stream, poster):
    """Every event up to a marker posted in `general` now: since each host applies the
    order in sequence, anything stored before the marker has arrived by then."""
    marker = poster.post_message(poster.general_room()["id"], f"marker {uuid.uuid4()}")
    return stream.events_until(
        lambda e: e.event == "message" and e.json()["id"] == marker["id"], timeout=10)


def _chat_texts(events):
    return [e.json()["message"] for e in events if e.event == "message"]


def test_a_kick_falls_exactly_between_two_messages(live_server):
    owner = ChatClient(live_server.api).register()
    member = ChatClient(live_server.api).register()
    room = owner.create_room()
    member.join(room["id"])
    with member.subscribe() as stream:
        stream.wait_ready()
        owner.post_message(room["id"], "before the kick")
        assert owner.delete(f"/rooms/{room['id']}/users/{member.id}").status_code == 204
        owner.post_message(room["id"], "after the kick")
        events = _events_until_marker(stream, owner)
    texts = _chat_texts(events)
    assert "before the kick" in texts and "after the kick" not in texts
    kinds = [(e.event, e.json().get("action")) for e in events if e.event != "presence"]
    assert kinds.index(("membership", "kicked")) > kinds.index(("message", None))


def test_a_message_stored_right_after_a_join_reaches_the_joiner(live_server):
    owner = ChatClient(live_server.api).register()
    joiner = ChatClient(live_server.api).register()
    room = owner.create_room()
    with joiner.subscribe() as stream:
        stream.wait_ready()
        joiner.join(room["id"])
        sent = owner.post_message(room["id"], "welcome")
        events = stream.events_until(
            lambda e: e.event == "message" and e.json()["id"] == sent["id"], timeout=10)
    assert ("membership", "joined") in [(e.event, e.json().get("action")) for e in events]


def test_resume_replays_a_room_left_while_offline_up_to_the_leave(live_server):
    owner = ChatClient(live_server.api).register()
    reader = ChatClient(live_server.api).register()
    room = owner.create_room()
    reader.join(room["id"])
    with reader.subscribe() as stream:
        stream.wait_ready()
        seen = owner.post_message(room["id"], "seen live")
        stream.events_until(lambda e: e.event == "message" and e.json()["id"] == seen["id"])
    # Offline: a message, then the reader is kicked, then a message they may not get.
    owner.post_message(room["id"], "missed while offline")
    assert owner.delete(f"/rooms/{room['id']}/users/{reader.id}").status_code == 204
    owner.post_message(room["id"], "after the kick")
    with reader.subscribe(last_event_id=seen["id"]) as stream:
        stream.wait_ready()
        events = _events_until_marker(stream, owner)
    relevant = [e for e in events if e.event in ("message", "membership")
                and e.json().get("room") == room["id"]]
    assert [(e.event, e.json().get("message") or e.json().get("action")) for e in relevant] \
        == [("message", "missed while offline"), ("membership", "kicked")]


def test_last_event_id_query_parameter_resumes_like_the_header(live_server):
    owner = ChatClient(live_server.api).register()
    room = owner.create_room()
    first = owner.post_message(room["id"], "first")
    second = owner.post_message(room["id"], "second")
    from tests.support.sse import SSEClient

    url = f"{owner.api}/users/{owner.id}/subscribe?last_event_id={first['id']}"
    with SSEClient(url, owner.auth_header) as stream:
        stream.wait_ready()
        events = stream.events_until(
            lambda e: e.event == "message" and e.json()["id"] == second["id"], timeout=10)
    assert [e.json()["id"] for e in events if e.event == "message"] == [second["id"]]


def test_the_last_event_id_header_wins_over_the_query_parameter(live_server):
    """Both present: the resume starts after the header's id, not the query's."""
    owner = ChatClient(live_server.api).register()
    room = owner.create_room()
    first = owner.post_message(room["id"], "first")
    second = owner.post_message(room["id"], "second")
    third = owner.post_message(room["id"], "third")
    from tests.support.sse import SSEClient

    url = f"{owner.api}/users/{owner.id}/subscribe?last_event_id={first['id']}"
    with SSEClient(url, {**owner.auth_header, "Last-Event-ID": second["id"]}) as stream:
        stream.wait_ready()
        events = stream.events_until(
            lambda e: e.event == "message" and e.json()["id"] == third["id"], timeout=10)
    assert [e.json()["id"] for e in events if e.event == "message"] == [third["id"]]
