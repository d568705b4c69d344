"""The chat page in a real browser: people signing up, chatting live, direct messages,
private rooms with invitations, unread badges, and untrusted text shown safely."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Route, expect

from tests.browser.chatpage import PENDING, expect_confirmed
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser


def api_user(server, name: str) -> ChatClient:
    """An API session for a person who signed up through the page."""
    client = ChatClient(server.api)
    client.login(name)
    return client


def test_two_people_chat_live_in_general(live_server, open_page, artifacts):
    alice = open_page(live_server.url, "alice").sign_up("alice")
    alice.shot(artifacts, "01-signed-in")
    bob = open_page(live_server.url, "bob").sign_up("bob")
    for chat in (alice, bob):
        chat.page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        chat.open_room("general")

    observer = api_user(live_server, "alice")
    general = observer.general_room()
    history = observer.history(general["id"])
    assert history, "the seeded welcome message"
    expect(alice.messages).to_have_count(len(history))
    expect(bob.messages).to_have_count(len(history))
    expect(alice.page.locator("[data-testid=member][data-online=true]")).to_have_count(2)
    expect(bob.tid("member").and_(bob.page.locator(
        f"[data-user-id='{observer.id}']"))).to_have_attribute("data-online", "true")

    # Alice's message is pending until the stream confirms it: hold her POST back to see it.
    held: list[Route] = []
    alice.page.route("**/v1/chats/rooms/*/messages",
                     lambda route: held.append(route) if route.request.method == "POST"
                     else route.continue_())
    alice.composer.fill("Hi Bob! Are you there?")
    alice.composer.press("Enter")
    mine = alice.messages.last
    expect(mine).to_have_class(PENDING)
    expect(mine.get_by_test_id("message-text")).to_have_text("Hi Bob! Are you there?")
    expect(mine.get_by_test_id("message-author")).to_have_text("alice")
    assert len(held) == 1
    message_id = mine.get_attribute("data-message-id")
    assert held[0].request.post_data_json["id"] == message_id
    expect(bob.message(message_id)).to_have_count(0)  # not sent yet
    held[0].continue_()
    alice.page.unroute("**/v1/chats/rooms/*/messages")
    expect_confirmed(alice.message(message_id), "Hi Bob! Are you there?")
    # ... and Bob sees it arrive without reloading.
    expect_confirmed(bob.message(message_id), "Hi Bob! Are you there?")
    expect(bob.message(message_id).get_by_test_id("message-author")).to_have_text("alice")

    # The other way round.
    reply = bob.post("Hey Alice, loud and clear!")
    reply_id = reply.get_attribute("data-message-id")
    expect_confirmed(reply, "Hey Alice, loud and clear!")
    expect_confirmed(alice.message(reply_id), "Hey Alice, loud and clear!")
    expect(alice.message(reply_id).get_by_test_id("message-author")).to_have_text("bob")

    for text, chat in [("Shall we try the new room list on our phones later?", alice),
                       ("Sure — it even works offline for a bit and catches up.", bob)]:
        msg = chat.post(text)
        expect_confirmed(msg, text)
        other = bob if chat is alice else alice
        expect_confirmed(other.message(msg.get_attribute("data-message-id")), text)

    # Both pages show exactly the stored history, once each and in order; none reloaded.
    history = observer.history(general["id"])
    for chat in (alice, bob):
        expect(chat.messages).to_have_count(len(history))
        assert chat.message_ids() == [m["id"] for m in history]
        assert chat.page.evaluate("window.__sameDocument") is True
    alice.composer.focus()
    alice.shot(artifacts, "02-general-alice")
    bob.shot(artifacts, "02-general-bob")
    alice.composer.blur()
    observer.close()


def test_direct_messages_private_rooms_and_unread_badges(live_server, open_page, artifacts):
    carol = open_page(live_server.url, "carol").sign_up("carol")
    dave = open_page(live_server.url, "dave").sign_up("dave")
    dave_api = api_user(live_server, "dave")

    # Direct message: Carol opens it by name; Dave's list gains "@carol" with a badge.
    carol.tid("dm-name").fill("dave")
    carol.tid("dm-open").click()
    expect(carol.title).to_have_text("@dave")
    expect(carol.tid("leave-room")).to_be_hidden()  # a direct room cannot be left
    dm_text = "psst, dave — a direct message"
    dm_id = carol.post(dm_text).get_attribute("data-message-id")
    expect_confirmed(carol.message(dm_id), dm_text)

    dm_item = dave.room_item(kind="direct")
    expect(dm_item).to_have_count(1)
    expect(dm_item).to_contain_text("@carol")
    expect(dm_item.get_by_test_id("unread-badge")).to_have_text("1")
    expect(dave.title).to_have_text("No room open")  # nothing opened by itself
    dm_item.get_by_role("button").click()
    expect(dave.title).to_have_text("@carol")
    expect_confirmed(dave.message(dm_id), dm_text)
    expect(dm_item.get_by_test_id("unread-badge")).to_have_count(0)
    answer = dave.post("got it")
    expect_confirmed(carol.message(answer.get_attribute("data-message-id")), "got it")
    dave.shot(artifacts, "03-direct-dave")

    # A private room, and an invitation accepted through the page.
    carol.tid("new-room-name").fill("secret-plans")
    carol.tid("new-room-private").check()
    carol.tid("create-room").click()
    expect(carol.title).to_have_text("secret-plans")
    room_id = carol.room_item("secret-plans").get_attribute("data-room-id")
    expect(carol.room_item("secret-plans")).to_have_attribute("data-kind", "private")
    expect(dave.room_item("secret-plans")).to_have_count(0)
    expect(dave.page.locator(f"[data-testid=join-room][data-room-id='{room_id}']")) \
        .to_have_count(0)  # private rooms are not offered to join
    carol.tid("invite-name").fill("dave")
    carol.tid("invite-send").click()
    expect(carol.tid("notice")).to_contain_text("Invited dave")

    invitation = dave.page.locator(f"[data-testid=invitation][data-room-id='{room_id}']")
    expect(invitation).to_contain_text("secret-plans")
    expect(invitation).to_contain_text("carol")
    dave.shot(artifacts, "04-invitation-dave")
    invitation.get_by_test_id("invitation-accept").click()
    expect(dave.title).to_have_text("secret-plans")
    expect(invitation).to_have_count(0)
    expect(dave.room_item("secret-plans")).to_have_attribute("data-kind", "private")
    expect(dave.tid("member")).to_have_count(2)
    expect(carol.tid("member")).to_have_count(2)
    secret = carol.post("only the two of us can read this")
    expect_confirmed(dave.message(secret.get_attribute("data-message-id")),
                     "only the two of us can read this")

    # Unread badge: Dave reads general, then looks at the private room while Carol posts
    # in general; the badge counts up, and clears (on the server too) when he opens it.
    dave.open_room("general")
    general_item = dave.room_item("general")
    expect(general_item.get_by_test_id("unread-badge")).to_have_count(0)
    dave.open_room("secret-plans")
    carol.open_room("general")
    first = carol.post("news in general")
    expect(general_item.get_by_test_id("unread-badge")).to_have_text("1")
    carol.post("more news in general")
    expect(general_item.get_by_test_id("unread-badge")).to_have_text("2")
    expect(dave.page).to_have_title("(2) Chatterly")
    expect(dave.message(first.get_attribute("data-message-id"))).to_have_count(0)
    dave.shot(artifacts, "05-unread-badge-dave")
    with dave.page.expect_response(lambda r: r.request.method == "PUT"
                                   and r.url.endswith("/read")) as marked:
        dave.open_room("general")
    assert marked.value.status == 204
    expect(general_item.get_by_test_id("unread-badge")).to_have_count(0)
    expect(dave.page).to_have_title("Chatterly")
    expect(dave.message_with_text("more news in general")).to_have_count(1)
    rooms = {r["name"]: r for r in dave_api.get(f"/users/{dave_api.id}/rooms").json()}
    assert rooms["general"]["unread_count"] == 0
    dave.page.reload()
    expect(dave.state).to_have_text("live")
    expect(dave.room_item("general")).to_have_count(1)
    expect(dave.room_item("secret-plans")).to_have_count(1)
    expect(dave.page.get_by_test_id("unread-badge")).to_have_count(0)
    dave_api.close()


def test_untrusted_text_is_shown_as_text(live_server, open_page, artifacts):
    erin = open_page(live_server.url, "erin").sign_up("erin")
    erin.open_room("general")
    mallory = ChatClient(live_server.api).register("mallory")
    general = mallory.general_room()
    payload = "<img src=x onerror=alert(1)>"

    # Typed into the page, and received from someone else over the stream.
    mine = erin.post(payload)
    expect_confirmed(mine)
    expect(mine.get_by_test_id("message-text")).to_have_js_property("textContent", payload)
    theirs = mallory.post_message(general["id"], payload + "<script>alert(2)</script>",
                                  id=str(uuid.uuid4()))
    received = erin.message(theirs["id"]).get_by_test_id("message-text")
    expect(received).to_have_js_property("textContent", theirs["message"])
    expect(erin.page.locator("[data-testid=messages] img")).to_have_count(0)
    expect(erin.page.locator("[data-testid=messages] script")).to_have_count(0)

    # Shift+Enter makes a new line; the text keeps its line breaks on screen.
    erin.composer.press_sequentially("first line")
    erin.composer.press("Shift+Enter")
    erin.composer.press_sequentially("second line")
    erin.composer.press("Shift+Enter")
    erin.composer.press("Shift+Enter")
    erin.composer.press_sequentially("after a blank line")
    expect(erin.composer).to_have_value("first line\nsecond line\n\nafter a blank line")
    erin.composer.press("Enter")
    multi = erin.message_with_text("first line\nsecond line\n\nafter a blank line")
    # (get_by_text normalizes whitespace; the exact text and its layout are checked below)
    expect(multi).to_have_count(1)
    expect_confirmed(multi)
    text = multi.get_by_test_id("message-text")
    expect(text).to_have_js_property("textContent", "first line\nsecond line\n\nafter a blank line")
    assert text.evaluate("n => n.innerText") == "first line\nsecond line\n\nafter a blank line"
    lines = text.evaluate(
        "n => n.getBoundingClientRect().height / parseFloat(getComputedStyle(n).lineHeight)")
    assert round(lines) == 4, f"rendered as {lines:.1f} lines"

    # Text outside the Basic Multilingual Plane and combining marks survive unchanged.
    unicode_text = "naïve café 😀 — ĉu vi? 中文 e\u0301"
    accented = erin.post(unicode_text)
    expect_confirmed(accented)
    expect(accented.get_by_test_id("message-text")).to_have_js_property("textContent",
                                                                       unicode_text)

    # A 300-character word wraps instead of widening the message list.
    word = "W" * 300
    long = erin.post(word)
    expect_confirmed(long, word)
    box = erin.tid("messages")
    overflow = box.evaluate("n => n.scrollWidth - n.clientWidth")
    assert overflow <= 0, f"the message list scrolls sideways by {overflow}px"
    page_overflow = erin.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert page_overflow <= 0, f"the page scrolls sideways by {page_overflow}px"
    text_box = long.get_by_test_id("message-text").bounding_box()
    list_box = box.bounding_box()
    assert text_box["x"] + text_box["width"] <= list_box["x"] + list_box["width"] + 0.5
    assert text_box["height"] > 2 * 16, "the word wraps onto several lines"
    erin.shot(artifacts, "06-untrusted-text")

    # What the server stored is exactly what was typed.
    stored = {m["id"]: m["message"] for m in mallory.history(general["id"], limit=200)}
    assert stored[mine.get_attribute("data-message-id")] == payload
    assert stored[multi.get_attribute("data-message-id")] == \
        "first line\nsecond line\n\nafter a blank line"
    assert stored[accented.get_attribute("data-message-id")] == unicode_text
    mallory.close()
