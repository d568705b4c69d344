"""The page keeps its place and its messages: rooms have URLs (back/forward, reload), the
last room reopens after signing in, a reload resumes the stream where it stopped, and my
messages are sent in the order I typed them, whatever the network does."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Route, expect

from tests.browser.chatpage import PENDING, expect_confirmed
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"#/rooms/([0-9a-f-]{36})$")


def room_id_in_url(chat) -> str:
    match = ROOM_URL.search(chat.page.url)
    assert match, f"no room in the URL {chat.page.url}"
    return match.group(1)


def test_rooms_have_urls_back_forward_reload_and_reopen_after_sign_in(live_server, open_page):
    hana = open_page(live_server.url, "hana").sign_up("hana")
    assert not ROOM_URL.search(hana.page.url)
    hana.open_room("general")
    general_id = room_id_in_url(hana)
    assert general_id == hana.room_item("general").get_attribute("data-room-id")
    hana.tid("new-room-name").fill("hana-corner")
    hana.tid("create-room").click()
    expect(hana.title).to_have_text("hana-corner")
    corner_id = room_id_in_url(hana)
    assert corner_id != general_id
    corner_msg = hana.post("a note in my corner")
    expect_confirmed(corner_msg)

    # Back and forward move between the two rooms, without reloading the page.
    hana.page.evaluate("window.__sameDocument = true")
    hana.page.go_back()
    expect(hana.title).to_have_text("general")
    assert room_id_in_url(hana) == general_id
    expect(hana.room_item("general").get_by_role("button")).to_have_attribute(
        "aria-current", "page")
    hana.page.go_forward()
    expect(hana.title).to_have_text("hana-corner")
    expect(hana.message_with_text("a note in my corner")).to_have_count(1)
    assert hana.page.evaluate("window.__sameDocument") is True

    # A reload keeps the room (from the URL).
    hana.page.reload()
    expect(hana.state).to_have_text("live")
    expect(hana.title).to_have_text("hana-corner")
    expect(hana.message_with_text("a note in my corner")).to_have_count(1)
    assert room_id_in_url(hana) == corner_id

    # Signing out forgets the URL, signing in again reopens the last room.
    hana.tid("signout").click()
    expect(hana.tid("auth-form")).to_be_visible()
    assert not ROOM_URL.search(hana.page.url)
    hana.sign_in("hana", room="hana-corner")
    assert room_id_in_url(hana) == corner_id
    expect(hana.composer).to_be_focused()


def test_reload_resumes_the_stream_with_no_gap_and_no_duplicate(live_server, open_page):
    ivan = open_page(live_server.url, "ivan").sign_up("ivan")
    ivan.open_room("general")
    jo = ChatClient(live_server.api).register("jo")
    general = jo.general_room()["id"]
    seen = jo.post_message(general, "before the reload", id=str(uuid.uuid4()))
    expect_confirmed(ivan.message(seen["id"]), "before the reload")

    # Hold the new page's stream request back while Jo posts, so those messages are
    # missed by the stream and must come from the resume (or history) exactly once.
    held: list[Route] = []
    ivan.page.route("**/subscribe*", lambda route: held.append(route))
    with ivan.page.expect_request("**/subscribe*") as subscribe:
        ivan.page.reload()
    # The reloaded page is up (room from the URL, history shown) but not live yet.
    expect(ivan.title).to_have_text("general")
    expect(ivan.state).to_have_text("connecting")
    expect(ivan.message(seen["id"])).to_have_count(1)
    assert held, "the stream request was not held"
    assert f"last_event_id={seen['id']}" in subscribe.value.url, subscribe.value.url
    during = [jo.post_message(general, f"during the reload {n}", id=str(uuid.uuid4()))
              for n in range(1, 4)]
    held[0].continue_()
    ivan.page.unroute("**/subscribe*")
    expect(ivan.state).to_have_text("live")
    after = [jo.post_message(general, f"after the reload {n}", id=str(uuid.uuid4()))
             for n in range(1, 3)]
    expect_confirmed(ivan.message(after[-1]["id"]), "after the reload 2")

    history = [m["id"] for m in jo.history(general, limit=200)]
    for msg in during + after:
        assert msg["id"] in history
    expect(ivan.messages).to_have_count(len(history))
    assert ivan.message_ids() == history, "every message once, in stored order"
    # The replay and the history page overlap; the page merged them.
    assert len(set(ivan.message_ids())) == len(history)
    jo.close()


def test_offline_burst_is_stored_in_typed_order(live_server, open_page, problems):
    problems.allow_console(r"ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED|Failed to fetch")
    kai = open_page(live_server.url, "kai").sign_up("kai")
    kai.open_room("general")
    observer = ChatClient(live_server.api).register()
    general = observer.general_room()["id"]

    # One request at a time: count the posts in flight.
    in_flight = {"now": 0, "max": 0}

    def started(request):
        if request.method == "POST" and request.url.endswith("/messages"):
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])

    def ended(request):
        if request.method == "POST" and request.url.endswith("/messages"):
            in_flight["now"] -= 1

    kai.page.on("request", started)
    kai.page.on("requestfinished", ended)
    kai.page.on("requestfailed", ended)

    kai.page.context.set_offline(True)
    texts = [f"offline burst {n:02d}" for n in range(1, 11)]
    for text in texts:
        kai.composer.fill(text)
        kai.composer.press("Enter")
    expect(kai.page.locator("[data-testid=message].pending")).to_have_count(10)
    first = kai.message_with_text(texts[0])
    expect(first.get_by_test_id("message-status")).to_contain_text("retrying")
    expect(first.get_by_test_id("message-retry")).to_be_visible()
    ids = kai.page.eval_on_selector_all(
        "[data-testid=message].pending", "nodes => nodes.map(n => n.dataset.messageId)")

    kai.page.context.set_offline(False)
    # Back online the stream reconnects at once (not after its retry delay) and the
    # outbox stops waiting; the margin is for a loaded machine.
    expect(kai.state).to_have_text("live", timeout=15_000)
    for message_id, text in zip(ids, texts):
        expect(kai.message(message_id)).not_to_have_class(PENDING, timeout=15_000)
        expect(kai.message(message_id).get_by_test_id("message-text")).to_have_text(text)
    stored = [m for m in observer.history(general, limit=50) if m["id"] in ids]
    assert [m["message"] for m in stored] == texts, "stored in the order typed"
    assert [m["id"] for m in stored] == ids, "each under the id the page gave it"
    assert in_flight["max"] == 1, f"{in_flight['max']} posts were in flight at once"
    observer.close()


def test_outbox_retries_with_the_same_id_and_offers_retry_when_refused(live_server, open_page,
                                                                        problems, artifacts):
    problems.allow_console(r"status of (503|403) .*/messages\]$")  # the answers faked below
    lea = open_page(live_server.url, "lea").sign_up("lea")
    lea.open_room("general")
    posts: list[dict] = []

    # First a 503 with Retry-After: retried by itself with the same id.
    def busy_once(route: Route) -> None:
        posts.append(route.request.post_data_json)
        if len(posts) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1"}, content_type="application/json",
                          body=json.dumps({"error": {"code": "overloaded", "message": "Busy"}}))
        else:
            route.continue_()

    lea.page.route("**/v1/chats/rooms/*/messages", lambda route: busy_once(route)
                   if route.request.method == "POST" else route.continue_())
    msg = lea.post("retried after a 503")
    expect_confirmed(msg, "retried after a 503")
    assert len(posts) == 2 and posts[0]["id"] == posts[1]["id"] == msg.get_attribute(
        "data-message-id")
    lea.page.unroute("**/v1/chats/rooms/*/messages")

    # A final refusal: the message says so and offers Retry and Discard.
    refused = {"on": True}

    def refuse(route: Route) -> None:
        if route.request.method == "POST" and refused["on"]:
            route.fulfill(status=403, content_type="application/json", body=json.dumps(
                {"error": {"code": "forbidden", "message": "Refused for the test"}}))
        else:
            route.continue_()

    lea.page.route("**/v1/chats/rooms/*/messages", refuse)
    failed = lea.post("refused at first")
    expect(failed).to_have_class(re.compile(r"\bfailed\b"))
    expect(failed.get_by_test_id("message-status")).to_contain_text("Refused for the test")
    expect(lea.tid("error")).to_contain_text("Refused for the test")
    discard = lea.post("to be discarded")
    expect(discard).to_have_class(re.compile(r"\bfailed\b"))
    lea.shot(artifacts, "34-message-not-sent")
    refused["on"] = False
    failed.get_by_test_id("message-retry").click()
    expect_confirmed(failed, "refused at first")
    discard.get_by_test_id("message-discard").click()
    expect(lea.message_with_text("to be discarded")).to_have_count(0)
    expect(lea.page.locator("[data-testid=message].pending")).to_have_count(0)
    expect(lea.messages.last).not_to_have_class(PENDING)


def test_messages_not_yet_sent_survive_a_reload(live_server, open_page, problems):
    problems.allow_console(r"ERR_FAILED|ERR_CONNECTION_REFUSED")  # the posts refused below
    max_ = open_page(live_server.url, "max").sign_up("max")
    max_.open_room("general")
    observer = ChatClient(live_server.api).register()
    general = observer.general_room()["id"]

    # The server cannot be reached for posts: the messages wait in the outbox.
    def unreachable(route: Route) -> None:
        if route.request.method == "POST":
            route.abort("connectionrefused")
        else:
            route.continue_()

    max_.page.route("**/v1/chats/rooms/*/messages", unreachable)
    texts = ["typed before the reload 1", "typed before the reload 2",
             "typed before the reload 3"]
    for text in texts:
        max_.composer.fill(text)
        max_.composer.press("Enter")
    expect(max_.page.locator("[data-testid=message].pending")).to_have_count(3)
    ids = max_.page.eval_on_selector_all(
        "[data-testid=message].pending", "nodes => nodes.map(n => n.dataset.messageId)")

    # Reloaded, the page still has them, pending, in order, under the same ids.
    max_.page.reload()
    expect(max_.state).to_have_text("live")
    expect(max_.title).to_have_text("general")
    pending = max_.page.locator("[data-testid=message].pending")
    expect(pending).to_have_count(3)
    assert max_.page.eval_on_selector_all(
        "[data-testid=message].pending", "nodes => nodes.map(n => n.dataset.messageId)") == ids

    # Reachable again: "Retry now" sends them without waiting out the backoff.
    max_.page.unroute("**/v1/chats/rooms/*/messages")
    retry = max_.message(ids[0]).get_by_test_id("message-retry")
    expect(retry).to_be_visible()
    retry.click()
    for message_id, text in zip(ids, texts):
        expect_confirmed(max_.message(message_id), text)
    stored = [m for m in observer.history(general, limit=50) if m["id"] in ids]
    assert [m["message"] for m in stored] == texts
    observer.close()
