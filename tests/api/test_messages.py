"""API.md "Messages": posting (202 + Location, the exact Message fields, validation,
text kept exactly, the author is the caller, idempotent client ids), history pages
(limit, before/after cursors, errors) and single messages."""

from __future__ import annotations

import uuid

import pytest

from tests.api.core_support import (
    assert_message,
    chat_events_until,
    full_history,
    wait_stored,
)
from tests.support.checks import assert_error

N_HISTORY = 205  # more than the 200 cap


@pytest.fixture(scope="module")
def server_env(server_env):
    # Filling a room with a few hundred messages must not trip the per-user rate limit
    # (which tests/api/test_delivery.py checks on its own server).
    return {**server_env, "CHAT_RATE_LIMIT": "100000/second"}


# -- posting -------------------------------------------------------------------------------

def test_post_answers_202_with_the_message_and_its_location(api, live_server):
    """POST /rooms/{id}/messages → 202 with exactly {id, user, room, message, created_at}
    and a Location naming it; the stored message, the single GET, history and the stream
    all show the same object."""
    me = api()
    room = me.create_room()
    with me.subscribe() as sse:
        sse.wait_ready()
        response = me.post(f"/rooms/{room['id']}/messages", json={"message": "Hello"})
        assert response.status_code == 202, response.text
        message = response.json()
        assert_message(message, user=me.id, room=room["id"], message="Hello")
        location = response.headers["Location"]
        assert location.endswith(f"/v1/chats/rooms/{room['id']}/messages/{message['id']}")
        delivered = chat_events_until(sse, [message["id"]])
    assert delivered == [message]
    assert me.history(room["id"]) == [message]
    url = live_server.url + location if location.startswith("/") else location
    single = me.session.get(url, timeout=10)
    assert single.status_code == 200 and single.json() == message


def test_message_text_is_validated_after_trimming(api):
    """Only whitespace: 400 empty_message; more than 4000 code points after trimming:
    400 message_too_long; exactly 4000 (even of astral characters, and with whitespace
    around) is fine. Nothing refused is stored."""
    me = api()
    room = me.create_room()
    path = f"/rooms/{room['id']}/messages"
    for empty in ("", " ", "   \n\t  ", "\u00a0\u2003\u3000", "\r\n"):
        assert_error(me.post(path, json={"message": empty}), 400, "empty_message")
    for too_long in ("x" * 4001, "😀" * 4001, "  " + "y" * 4001 + "  ",
                     "é" * 4001, "e\u0301" * 2000 + "z"):
        assert_error(me.post(path, json={"message": too_long}), 400, "message_too_long")
    accepted = []
    for fits in ("x" * 4000, "😀" * 4000, "  \n" + "y" * 4000 + "\n  ",
                 "e\u0301" * 2000, "z"):
        response = me.post(path, json={"message": fits})
        assert response.status_code == 202, (len(fits), response.text[:200])
        assert response.json()["message"] == fits
        accepted.append(response.json())
    history = wait_stored(me, room["id"], [m["id"] for m in accepted])
    assert history == accepted


def test_text_is_stored_exactly_as_sent(api):
    """Surrounding whitespace, newlines, Unicode (emoji, combining marks, RTL, zero-width
    and astral characters), quotes and markup are stored and delivered unchanged."""
    me = api()
    room = me.create_room()
    texts = [
        "  leading and trailing  ",
        "\n\tindented\r\nwindows line\n",
        "emoji 👩‍👩‍👧‍👦 🇫🇷 ✔️ and astral 𝄞 𐍈",
        "e\u0301 (not normalised to é) and é",
        "עברית ومرحبا mixed → ←",
        "zero\u200bwidth\ufeffbom",
        "quotes \" ' \\ and <b>markup</b> &amp; {\"json\": true}",
        "line\u2028separator\u2029paragraph",
        "nul-free control \u0007 bell",
    ]
    with me.subscribe() as sse:
        sse.wait_ready()
        posted = [me.post_message(room["id"], text) for text in texts]
        assert [m["message"] for m in posted] == texts
        delivered = chat_events_until(sse, [m["id"] for m in posted])
    assert [m["message"] for m in delivered] == texts
    history = me.history(room["id"])
    assert [m["message"] for m in history] == texts
    for message in posted:
        single = me.get(f"/rooms/{room['id']}/messages/{message['id']}").json()
        assert single == message


def test_the_author_is_always_the_caller(api):
    """`user`, if given, must be the caller (else 403 forbidden, nothing stored)."""
    me, other = api(), api()
    room = me.create_room()
    other.join(room["id"])
    path = f"/rooms/{room['id']}/messages"
    assert_error(me.post(path, json={"message": "spoof", "user": other.id}), 403, "forbidden")
    assert_error(me.post(path, json={"message": "spoof", "user": str(uuid.uuid4())}),
                 403, "forbidden")
    ok = me.post(path, json={"message": "as myself", "user": me.id})
    assert ok.status_code == 202 and ok.json()["user"] == me.id
    history = wait_stored(me, room["id"], [ok.json()["id"]])
    assert [(m["user"], m["message"]) for m in history] == [(me.id, "as myself")]


def test_posting_needs_membership_and_visibility(api):
    """Not a member of a public room: 403 not_member; a private room one is not in, or an
    unknown room: 404. Nothing is stored."""
    owner, outsider = api(), api()
    public = owner.create_room()
    private = owner.create_room(kind="private")
    assert_error(outsider.post(f"/rooms/{public['id']}/messages", json={"message": "hi"}),
                 403, "not_member")
    assert_error(outsider.post(f"/rooms/{private['id']}/messages", json={"message": "hi"}),
                 404, "not_found")
    assert_error(outsider.post(f"/rooms/{uuid.uuid4()}/messages", json={"message": "hi"}),
                 404, "not_found")
    marker = owner.post_message(public["id"], "marker")
    assert wait_stored(owner, public["id"], [marker["id"]]) == [marker]


def test_client_ids_make_posts_idempotent(api):
    """A client `id` becomes the message id; the same id again by the same user → 202 with
    the original message, stored and delivered once; by another user → 409."""
    me, other = api(), api()
    room = me.create_room()
    other.join(room["id"])
    client_id = str(uuid.uuid4())
    with me.subscribe() as sse:
        sse.wait_ready()
        first = me.post(f"/rooms/{room['id']}/messages",
                        json={"message": "once", "id": client_id})
        assert first.status_code == 202 and first.json()["id"] == client_id
        again = me.post(f"/rooms/{room['id']}/messages",
                        json={"message": "changed text", "id": client_id})
        assert again.status_code == 202 and again.json() == first.json()
        assert again.headers["Location"] == first.headers["Location"]
        assert_error(other.post(f"/rooms/{room['id']}/messages",
                                json={"message": "mine?", "id": client_id}), 409, "conflict")
        # After it is stored: still the same answers.
        after = me.post_message(room["id"], "after")
        delivered = chat_events_until(sse, [client_id, after["id"]])
        retried = me.post(f"/rooms/{room['id']}/messages",
                          json={"message": "once more", "id": client_id})
        assert retried.status_code == 202 and retried.json() == first.json()
        assert_error(other.post(f"/rooms/{room['id']}/messages",
                                json={"message": "mine?", "id": client_id}), 409, "conflict")
        tail = me.post_message(room["id"], "tail")
        delivered += chat_events_until(sse, [tail["id"]])
    assert [m["id"] for m in delivered] == [client_id, after["id"], tail["id"]]
    assert [m["id"] for m in me.history(room["id"])] == [client_id, after["id"], tail["id"]]
    assert me.get(f"/rooms/{room['id']}/messages/{client_id}").json() == first.json()


# -- history -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def filled_room(live_server):
    """A room holding N_HISTORY stored messages (oldest first), and a second room."""
    from tests.support.server import ChatClient

    owner = ChatClient(live_server.api).register()
    room = owner.create_room()
    other_room = owner.create_room()
    ids = [owner.post_message(room["id"], f"message {i}")["id"] for i in range(N_HISTORY)]
    stranger = owner.post_message(other_room["id"], "in the other room")
    stored = wait_stored(owner, room["id"], ids, timeout=30)
    wait_stored(owner, other_room["id"], [stranger["id"]])
    assert [m["id"] for m in stored] == ids
    yield {"owner": owner, "room": room, "ids": ids, "messages": stored,
           "other_room": other_room, "other_message": stranger}
    owner.close()


def _ids(client, room_id, **params):
    return [m["id"] for m in client.history(room_id, **params)]


def test_history_of_an_empty_room(api):
    """A room without messages: 200 []; with any cursor-free limit too."""
    me = api()
    room = me.create_room()
    assert me.history(room["id"]) == []
    assert me.history(room["id"], limit=1) == []


def test_history_default_limit_and_cap(api, filled_room):
    """Without cursors: the newest `limit` in chronological order; default 50; larger
    limits are capped at 200; any signed-in user may read a public room."""
    reader = api()  # not a member: public history is open to anyone signed in
    rid, ids = filled_room["room"]["id"], filled_room["ids"]
    page = reader.history(rid)
    assert [m["id"] for m in page] == ids[-50:]
    for message in page:
        assert_message(message, room=rid, user=filled_room["owner"].id)
    assert page == filled_room["messages"][-50:]
    assert _ids(reader, rid, limit=1) == ids[-1:]
    assert _ids(reader, rid, limit=199) == ids[-199:]
    assert _ids(reader, rid, limit=200) == ids[-200:]
    assert _ids(reader, rid, limit=201) == ids[-200:]
    assert _ids(reader, rid, limit=10**12) == ids[-200:]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", " ", "1e3", "0x10"])
def test_history_bad_limits_are_400(api, filled_room, limit):
    """`limit` that is not a number or is < 1: 400."""
    me = api()
    assert_error(me.get(f"/rooms/{filled_room['room']['id']}/messages",
                        params={"limit": limit}), 400, "validation_error")


def test_history_cursors(api, filled_room):
    """`before`/`after` give the nearest `limit` messages on that side, in chronological
    order, including the exact-limit edges and the ends of the history."""
    me = api()
    rid, ids = filled_room["room"]["id"], filled_room["ids"]
    assert _ids(me, rid, before=ids[100], limit=10) == ids[90:100]
    assert _ids(me, rid, after=ids[100], limit=10) == ids[101:111]
    assert _ids(me, rid, before=ids[100]) == ids[50:100]  # default limit 50
    assert _ids(me, rid, after=ids[100]) == ids[101:151]
    assert _ids(me, rid, before=ids[5], limit=50) == ids[:5]  # fewer than the limit
    assert _ids(me, rid, after=ids[-4], limit=50) == ids[-3:]
    assert _ids(me, rid, before=ids[10], limit=10) == ids[:10]  # exactly the limit
    assert _ids(me, rid, after=ids[-11], limit=10) == ids[-10:]
    assert _ids(me, rid, before=ids[0]) == []  # the ends
    assert _ids(me, rid, after=ids[-1]) == []
    assert _ids(me, rid, after=ids[0], limit=500) == ids[1:201]  # capped
    assert _ids(me, rid, before=ids[-1], limit=500) == ids[-201:-1]


def test_paging_walks_the_whole_history_without_gaps(api, filled_room):
    """Walking backwards with `before` and forwards with `after` both yield every message
    exactly once, in the stored order."""
    me = api()
    rid, ids = filled_room["room"]["id"], filled_room["ids"]
    backwards = _ids(me, rid, limit=37)
    while True:
        page = _ids(me, rid, limit=37, before=backwards[0])
        if not page:
            break
        assert len(page) == 37 or len(page) == len(ids) % 37
        backwards[:0] = page
    assert backwards == ids
    forwards = _ids(me, rid, limit=1, before=ids[1])  # the first message
    assert forwards == ids[:1]
    while True:
        page = _ids(me, rid, limit=64, after=forwards[-1])
        if not page:
            break
        forwards += page
    assert forwards == ids
    assert full_history(me, rid) == filled_room["messages"]


def test_history_cursor_errors(api, filled_room):
    """Unknown cursors, cursors from another room: 400 invalid_cursor; `before` and
    `after` together: 400."""
    me = api()
    rid, ids = filled_room["room"]["id"], filled_room["ids"]
    path = f"/rooms/{rid}/messages"
    foreign = filled_room["other_message"]["id"]
    for name in ("before", "after"):
        for bad in (str(uuid.uuid4()), foreign):
            assert_error(me.get(path, params={name: bad}), 400, "invalid_cursor")
        # Not even a UUID: still a 400 with a clear code.
        assert_error(me.get(path, params={name: "not-an-id"}), 400,
                     ("invalid_cursor", "validation_error"))
    assert_error(me.get(path, params={"before": ids[10], "after": ids[5]}), 400,
                 ("validation_error", "invalid_cursor"))
    assert_error(me.get(path, params={"before": ids[5], "after": ids[10], "limit": 3}), 400,
                 ("validation_error", "invalid_cursor"))
    # The other room's history is its own.
    assert _ids(me, filled_room["other_room"]["id"]) == [foreign]


def test_history_visibility(api, anon, filled_room):
    """Private rooms: members only (404 otherwise, also for single messages); unknown
    rooms 404; not signed in 401."""
    owner, outsider = api(), api()
    private = owner.create_room(kind="private")
    secret = owner.post_message(private["id"], "secret")
    assert wait_stored(owner, private["id"], [secret["id"]]) == [secret]
    assert_error(outsider.get(f"/rooms/{private['id']}/messages"), 404, "not_found")
    assert_error(outsider.get(f"/rooms/{private['id']}/messages/{secret['id']}"),
                 404, "not_found")
    assert_error(outsider.get(f"/rooms/{uuid.uuid4()}/messages"), 404, "not_found")
    assert_error(anon.get(f"/rooms/{filled_room['room']['id']}/messages"),
                 401, "unauthenticated")


def test_single_message(api, filled_room):
    """GET /rooms/{id}/messages/{mid} → 200 Message; an unknown id, or a message of
    another room asked for under this one: 404."""
    me = api()
    rid = filled_room["room"]["id"]
    message = filled_room["messages"][17]
    response = me.get(f"/rooms/{rid}/messages/{message['id']}")
    assert response.status_code == 200 and response.json() == message
    assert_error(me.get(f"/rooms/{rid}/messages/{uuid.uuid4()}"), 404, "not_found")
    foreign = filled_room["other_message"]
    assert_error(me.get(f"/rooms/{rid}/messages/{foreign['id']}"), 404, "not_found")
    assert me.get(f"/rooms/{foreign['room']}/messages/{foreign['id']}").json() == foreign
