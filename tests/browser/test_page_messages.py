"""API 1.1's message features on the page, with two people in two browser contexts: edits
with "(edited)", deletions with a confirmation, replies with a quote that jumps to the
original, reactions, @mention autocomplete with highlight and badge, "X is typing…",
search, direct rooms titled by the peer, the right final state after a tab was offline
while all of that happened, and no serious accessibility violation on such a room."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, expect

from tests.browser.chatpage import ChatPage, expect_confirmed
from tests.browser.test_page_accessibility import axe_script, axe_violations  # noqa: F401
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser

HIGHLIGHTED = re.compile(r"\bhighlighted\b")
MENTIONS_ME = re.compile(r"\bmentions-me\b")


def api_user(server, name: str) -> ChatClient:
    """An API session for a person who signed up through the page."""
    client = ChatClient(server.api)
    client.login(name)
    return client


def two_people(server, open_page, first: str, second: str, room: str | None = None):
    """Two people signed up through the page, both in a new public room of the first
    (its owner), both looking at it. Returns (first, second, room id, API of second)."""
    a = open_page(server.url, first).sign_up(first)
    b = open_page(server.url, second).sign_up(second)
    room = room or f"{first}-{second}"
    a.tid("new-room-name").fill(room)
    a.tid("create-room").click()
    expect(a.title).to_have_text(room)
    room_id = a.room_item(room).get_attribute("data-room-id")
    b_api = api_user(server, second)
    b_api.join(room_id)
    expect(b.room_item(room)).to_have_count(1)  # the join shows up live
    b.open_room(room)
    return a, b, room_id, b_api


def tool(chat: ChatPage, message: Locator, test_id: str) -> Locator:
    """A button of the message's toolbar (shown on hover and on focus)."""
    message.hover()
    return message.get_by_test_id(test_id)


def text_of(message: Locator) -> Locator:
    return message.get_by_test_id("message-text")


def test_edit_own_message_inline_shows_live_with_edited_marker(live_server, open_page):
    ed, fay, _, fay_api = two_people(live_server, open_page, "ed", "fay")
    mine = ed.post("first draft")
    expect_confirmed(mine)
    theirs = fay.message(mine.get_attribute("data-message-id"))
    expect(text_of(theirs)).to_have_text("first draft")
    expect(theirs.get_by_test_id("message-edit")).to_have_count(0)  # not hers to edit

    # Escape cancels: nothing changes.
    tool(ed, mine, "message-edit").click()
    editor = mine.get_by_test_id("edit-input")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("first draft")
    editor.fill("never saved")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    expect(text_of(mine)).to_have_text("first draft")
    expect(mine.get_by_test_id("message-edited")).to_be_hidden()

    tool(ed, mine, "message-edit").click()  # the Cancel button too
    mine.get_by_test_id("edit-cancel").click()
    expect(editor).to_have_count(0)
    expect(mine.get_by_test_id("message-edit")).to_be_focused()

    # Enter saves; both see the new text and "(edited)".
    tool(ed, mine, "message-edit").click()
    editor.fill("final text")
    editor.press("Enter")
    expect(editor).to_have_count(0)
    for message in (mine, theirs):
        expect(text_of(message)).to_have_text("final text")
        expect(message.get_by_test_id("message-edited")).to_have_text("(edited)")
    fay_api.close()


def test_delete_with_confirmation_disappears_for_everyone(live_server, open_page):
    gus, hal, room_id, hal_api = two_people(live_server, open_page, "gus", "hal")
    hals = hal.post("hal says something")
    expect_confirmed(hals)
    message_id = hals.get_attribute("data-message-id")
    at_gus = gus.message(message_id)
    expect_confirmed(at_gus)
    gus_own = gus.post("gus says something")
    expect_confirmed(gus_own)
    # Hal may delete only his own; Gus owns the room and may delete anyone's.
    expect(hal.message(gus_own.get_attribute("data-message-id"))
           .get_by_test_id("message-delete")).to_have_count(0)

    tool(gus, at_gus, "message-delete").click()
    expect(gus.tid("confirm-dialog")).to_be_visible()
    gus.tid("confirm-cancel").click()
    expect(gus.tid("confirm-dialog")).to_be_hidden()
    expect(hals).to_be_visible()

    tool(gus, at_gus, "message-delete").click()
    gus.tid("confirm-ok").click()
    expect(at_gus).to_have_count(0)
    expect(hals).to_have_count(0)  # live for Hal too

    tool(gus, gus_own, "message-delete").click()
    gus.tid("confirm-ok").click()
    expect(hal.message(gus_own.get_attribute("data-message-id") or "x")).to_have_count(0)
    assert all(m["id"] != message_id for m in hal_api.history(room_id))
    hal_api.close()


def test_reply_quotes_the_original_and_jumps_to_it(live_server, open_page):
    ivy, jay, room_id, jay_api = two_people(live_server, open_page, "ivy", "jay")
    original = ivy.post("the original question")
    expect_confirmed(original)
    original_id = original.get_attribute("data-message-id")
    at_jay = jay.message(original_id)

    # The reply bar: Escape cancels it, and so does ✕.
    tool(jay, at_jay, "message-reply").click()
    bar = jay.tid("reply-bar")
    expect(bar).to_contain_text("Replying to ivy")
    expect(jay.composer).to_be_focused()
    jay.composer.press("Escape")
    expect(bar).to_be_hidden()
    tool(jay, at_jay, "message-reply").click()
    jay.tid("reply-cancel").click()
    expect(bar).to_be_hidden()
    tool(jay, at_jay, "message-reply").click()
    reply = jay.post("my answer")
    expect(bar).to_be_hidden()
    expect_confirmed(reply)
    reply_id = reply.get_attribute("data-message-id")
    assert jay_api.get(f"/rooms/{room_id}/messages/{reply_id}").json()["reply_to"] == original_id

    quote = ivy.message(reply_id).get_by_test_id("reply-quote")
    expect(quote).to_contain_text("ivy")
    expect(quote).to_contain_text("the original question")
    quote.click()
    expect(original).to_have_class(HIGHLIGHTED)

    # An original far back in history (not loaded): the quote fetches it, the click loads
    # the messages around it.
    helpers = [ChatClient(live_server.api).register() for _ in range(3)]
    for helper in helpers:
        helper.join(room_id)
    for n in range(54):
        helpers[n % 3].post_message(room_id, f"filler {n}\n" * 3, id=str(uuid.uuid4()))
    late = jay_api.post(f"/rooms/{room_id}/messages", json={
        "message": "answering that old question", "reply_to": original_id}).json()
    ivy.page.reload()
    ivy.await_signed_in("ivy", room="ivy-jay")
    expect(ivy.message(original_id)).to_have_count(0)  # not among the newest 50
    late_quote = ivy.message(late["id"]).get_by_test_id("reply-quote")
    expect(late_quote).to_contain_text("the original question")
    late_quote.click()
    expect(ivy.message(original_id)).to_have_class(HIGHLIGHTED)
    expect(ivy.message(original_id)).to_be_in_viewport()
    # From that window of the past, scrolling down loads the newer pages up to the present,
    # each message once and in order.
    ivy.page.wait_for_function("""(id) => {
        const box = document.getElementById("messages");
        box.scrollTop = box.scrollHeight;
        return document.querySelector(`[data-message-id="${id}"]`) !== null;
    }""", arg=late["id"])
    history = [m["id"] for m in jay_api.history(room_id, limit=200)]
    assert ivy.message_ids() == history[history.index(ivy.message_ids()[0]):]

    # A deleted original: the quote says so.
    ivy_api = api_user(live_server, "ivy")
    ivy_api.delete(f"/rooms/{room_id}/messages/{original_id}")
    expect(jay.message(reply_id).get_by_test_id("reply-quote")).to_contain_text("deleted message")
    for client in (*helpers, jay_api, ivy_api):
        client.close()


def chip(message: Locator, emoji: str) -> Locator:
    return message.locator(f"[data-testid=reaction-chip][data-emoji='{emoji}']")


def test_reactions_toggle_with_live_counts_and_mine_pressed(live_server, open_page):
    kim, lou, _, lou_api = two_people(live_server, open_page, "kim", "lou")
    at_kim = kim.post("react to this")
    expect_confirmed(at_kim)
    at_lou = lou.message(at_kim.get_attribute("data-message-id"))

    tool(lou, at_lou, "message-react").click()
    picker = lou.tid("reaction-picker")
    expect(picker.get_by_test_id("reaction-option")).to_have_count(8)
    picker.locator("[data-emoji='👍']").click()
    expect(picker).to_have_count(0)
    expect(chip(at_lou, "👍")).to_have_attribute("aria-pressed", "true")
    expect(chip(at_lou, "👍").get_by_test_id("reaction-count")).to_have_text("1")
    expect(chip(at_kim, "👍")).to_have_attribute("aria-pressed", "false")
    expect(chip(at_kim, "👍").get_by_test_id("reaction-count")).to_have_text("1")

    chip(at_kim, "👍").click()  # Kim adds hers
    for message in (at_kim, at_lou):
        expect(chip(message, "👍").get_by_test_id("reaction-count")).to_have_text("2")
        expect(chip(message, "👍")).to_have_attribute("aria-pressed", "true")

    chip(at_lou, "👍").focus()  # Lou takes his back, by keyboard
    lou.page.keyboard.press("Enter")
    for message in (at_kim, at_lou):
        expect(chip(message, "👍").get_by_test_id("reaction-count")).to_have_text("1")
    expect(chip(at_lou, "👍")).to_be_focused()  # the chip was rebuilt; focus stays on it
    expect(chip(at_lou, "👍")).to_have_attribute("aria-pressed", "false")
    expect(chip(at_kim, "👍")).to_have_attribute("aria-pressed", "true")

    chip(at_kim, "👍").click()  # the last one: the chip goes
    expect(chip(at_lou, "👍")).to_have_count(0)

    # Events replayed after a resume change nothing the second time.
    twice = lou.page.evaluate("""async () => {
        const src = document.querySelector('script[type=module]').src;
        const { applyReactionEvent } = await import(new URL('reactions.js', src));
        const added = { emoji: "🎉", user: "u1", action: "added" };
        const once = applyReactionEvent([], added);
        const removed = { ...added, action: "removed" };
        return [once, applyReactionEvent(once, added) === once,
                applyReactionEvent(applyReactionEvent(once, removed), removed)];
    }""")
    assert twice == [[{"emoji": "🎉", "count": 1, "users": ["u1"]}], True, []]
    lou_api.close()


def test_mention_autocomplete_by_keyboard_highlight_and_badge(live_server, open_page):
    max_, ned, room_id, ned_api = two_people(live_server, open_page, "max", "ned")
    nora = ChatClient(live_server.api).register("nora")
    nora.join(room_id)
    ned.open_room("general")  # the room with the mention is not open for Ned
    expect(max_.tid("member")).to_have_count(3)

    max_.composer.fill("")
    max_.composer.press_sequentially("hi @n")
    options = max_.tid("mention-option")
    expect(options).to_have_text(["@ned", "@nora"])  # members, not me
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    max_.composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    max_.composer.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    max_.composer.press("Escape")
    expect(max_.tid("mention-list")).to_be_hidden()
    max_.composer.press("e")  # "@ne": only Ned
    expect(options).to_have_text(["@ned"])
    max_.composer.press("Tab")
    expect(max_.composer).to_have_value("hi @ned ")
    max_.composer.press_sequentially("look at this")
    max_.composer.press("Enter")
    expect(max_.composer).to_have_value("")

    badge = ned.room_item("max-ned").get_by_test_id("mention-badge")
    expect(badge).to_have_text("@1")
    ned.open_room("max-ned")
    mention = ned.message_with_text("hi @ned look at this")
    expect(mention).to_have_class(MENTIONS_ME)
    expect(badge).to_have_count(0)  # read
    assert ned_api.get(f"/users/{ned_api.id}/rooms").json()  # still signed in
    expect(max_.message_with_text("hi @ned look at this")).not_to_have_class(MENTIONS_ME)
    nora.close()
    ned_api.close()


def test_typing_indicator_shows_for_the_other_and_expires(live_server, open_page):
    oli, pam, _, pam_api = two_people(live_server, open_page, "oli", "pam")
    indicator = pam.tid("typing")
    expect(indicator).to_have_text("")
    oli.composer.press_sequentially("hel")
    expect(indicator).to_have_text("oli is typing…")
    expect(oli.tid("typing")).to_have_text("")  # not for myself
    expect(indicator).to_have_text("", timeout=9000)  # 5 s after the last event

    # Typing again, then the message: the line goes with the message.
    oli.composer.press_sequentially("lo")
    expect(indicator).to_have_text("oli is typing…")
    oli.composer.press("Enter")
    expect(pam.message_with_text("hello")).to_have_count(1)
    expect(indicator).to_have_text("", timeout=2000)  # well before it would expire
    said = pam.page.evaluate("""async () => {
        const src = document.querySelector('script[type=module]').src;
        const { describe } = await import(new URL('typing.js', src));
        return [describe(["ann"]), describe(["ann", "bo"]), describe(["ann", "bo", "cy"])];
    }""")
    assert said == ["ann is typing…", "ann and bo are typing…", "ann, bo and cy are typing…"]
    pam_api.close()


def test_search_finds_a_message_and_opens_its_room_there(live_server, open_page):
    quin, rae, room_id, rae_api = two_people(live_server, open_page, "quin", "rae")
    word = f"zebra{uuid.uuid4().hex[:8]}"
    general = rae_api.general_room()["id"]
    found = rae_api.post_message(general, f"a {word} crossing here", id=str(uuid.uuid4()))
    rae_api.post_message(room_id, "nothing to see", id=str(uuid.uuid4()))

    # This room only: not there.
    quin.tid("search-input").fill(word)
    quin.tid("search-scope").select_option("room")
    quin.tid("search-input").press("Enter")
    expect(quin.tid("search-status")).to_contain_text("Nothing found")

    # All my rooms: found in general; choosing it opens general at that message.
    quin.tid("search-scope").select_option("all")
    quin.tid("search-submit").click()
    result = quin.tid("search-result")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("rae")
    expect(result).to_contain_text("general")
    expect(result.locator("mark")).to_have_text(word)
    result.click()
    expect(quin.title).to_have_text("general")
    expect(quin.tid("search-panel")).to_be_hidden()
    expect(quin.message(found["id"])).to_have_class(HIGHLIGHTED)
    expect(quin.message(found["id"])).to_be_in_viewport()

    # More than a page of results: "More results" brings the next ones, newest first.
    quin_api = api_user(live_server, "quin")  # two posters: under 20 posts/s each
    many = [(quin_api, rae_api)[n % 2].post_message(
        room_id, f"{word}s number {n}", id=str(uuid.uuid4()))["id"] for n in range(21)]
    quin.tid("search-input").fill(f"{word}s")
    quin.tid("search-input").press("Enter")
    expect(result).to_have_count(20)
    expect(quin.tid("search-status")).to_contain_text("20+ messages")
    quin.tid("search-more").click()
    expect(result).to_have_count(21)
    expect(quin.tid("search-more")).to_be_hidden()
    assert result.evaluate_all("nodes => nodes.map((n) => n.dataset.messageId)") == many[::-1]
    quin_api.close()
    rae_api.close()


def test_direct_room_is_titled_by_the_peer(live_server, open_page):
    sam = open_page(live_server.url, "sam").sign_up("sam")
    tia_api = ChatClient(live_server.api).register("tia")
    sam_id = sam.page.evaluate("async () => (await (await fetch('/v1/chats/users/me')).json()).id")
    direct = tia_api.put(f"/users/{sam_id}/direct").json()
    assert direct["peer"]["name"] == "sam"
    tia_api.post_message(direct["id"], "hello sam", id=str(uuid.uuid4()))
    item = sam.room_item(kind="direct")
    expect(item).to_have_text(re.compile(r"@tia"))
    item.get_by_role("button").click()
    expect(sam.title).to_have_text("@tia")
    tia_api.close()


def test_offline_tab_catches_up_with_edits_reactions_and_deletes(
        live_server, open_page, problems):
    problems.allow_console(r"ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED|Failed to fetch"
                           r"|ERR_NETWORK_IO_SUSPENDED")
    uma, vic, room_id, vic_api = two_people(live_server, open_page, "uma", "vic")
    uma_api = api_user(live_server, "uma")
    posted = [uma_api.post_message(room_id, f"before {n}", id=str(uuid.uuid4())) for n in range(3)]
    for msg in posted:
        expect_confirmed(vic.message(msg["id"]))
    vic_api.put(f"/rooms/{room_id}/messages/{posted[1]['id']}/reactions/👀")
    expect(chip(vic.message(posted[1]["id"]), "👀")).to_have_attribute("aria-pressed", "true")

    vic.page.context.set_offline(True)
    expect(vic.state).not_to_have_text("live")
    uma_api.request("PATCH", f"/rooms/{room_id}/messages/{posted[0]['id']}",
                    json={"message": "before 0, edited"})
    uma_api.put(f"/rooms/{room_id}/messages/{posted[1]['id']}/reactions/🎉")
    vic_api.delete(f"/rooms/{room_id}/messages/{posted[1]['id']}/reactions/👀")
    uma_api.delete(f"/rooms/{room_id}/messages/{posted[2]['id']}")
    after = uma_api.post_message(room_id, "after the drop", id=str(uuid.uuid4()))
    resumed = []
    vic.page.on("request", lambda request: resumed.append(request.url)
                if "/subscribe?last_event_id=" in request.url else None)
    vic.page.context.set_offline(False)

    expect(vic.state).to_have_text("live")
    expect_confirmed(vic.message(after["id"]), "after the drop")
    first = vic.message(posted[0]["id"])
    expect(text_of(first)).to_have_text("before 0, edited")
    expect(first.get_by_test_id("message-edited")).to_be_visible()
    second = vic.message(posted[1]["id"])
    expect(chip(second, "👀")).to_have_count(0)
    expect(chip(second, "🎉").get_by_test_id("reaction-count")).to_have_text("1")
    expect(chip(second, "🎉")).to_have_attribute("aria-pressed", "false")
    expect(vic.message(posted[2]["id"])).to_have_count(0)
    assert vic.message_ids() == [posted[0]["id"], posted[1]["id"], after["id"]]
    assert resumed, "the stream resumed from the last message seen (the replay has the rest)"
    uma_api.close()
    vic_api.close()


def test_no_serious_axe_violations_with_replies_reactions_and_edits(
        live_server, open_page, axe_script, artifacts, docs_screenshot):  # noqa: F811
    wen = open_page(live_server.url, "wen", bypass_csp=True).sign_up("wen")
    xia_api = ChatClient(live_server.api).register("xia")
    wen.tid("new-room-name").fill("design-review")
    wen.tid("create-room").click()
    expect(wen.title).to_have_text("design-review")
    room_id = wen.room_item("design-review").get_attribute("data-room-id")
    xia_api.join(room_id)
    question = xia_api.post_message(
        room_id, "Does the new timeline look right to everyone? @wen", id=str(uuid.uuid4()))
    draft = wen.post("Mostly — the day dividers could be lighter")
    expect_confirmed(draft)
    tool(wen, draft, "message-edit").click()
    wen.page.get_by_test_id("edit-input").fill("Yes! Only the day dividers could be lighter.")
    wen.page.get_by_test_id("edit-input").press("Enter")
    expect(draft.get_by_test_id("message-edited")).to_be_visible()
    xia_api.put(f"/rooms/{room_id}/messages/{draft.get_attribute('data-message-id')}/reactions/👍")
    xia_api.put(f"/rooms/{room_id}/messages/{question['id']}/reactions/🎉")
    reply = xia_api.post(f"/rooms/{room_id}/messages", json={
        "message": "Agreed, I'll make them lighter.",
        "reply_to": draft.get_attribute("data-message-id")}).json()
    expect(wen.message(reply["id"]).get_by_test_id("reply-quote")).to_contain_text("wen")
    tool(wen, wen.message(question["id"]), "message-react").click()
    wen.tid("reaction-picker").locator("[data-emoji='🎉']").click()
    expect(chip(wen.message(question["id"]), "🎉").get_by_test_id("reaction-count")).to_have_text("2")
    wen.composer.press_sequentially("Thanks @x")
    expect(wen.tid("mention-option")).to_have_text(["@xia"])
    problems = axe_violations(wen, axe_script)
    wen.shot(artifacts, "40-message-features")
    wen.composer.press("Escape")
    wen.composer.fill("")
    wen.composer.blur()
    wen.page.mouse.move(0, 0)
    docs_screenshot(wen)  # the README's picture (UPDATE_SCREENSHOT=1 rewrites it)
    for scheme in ("dark",):
        wen.page.emulate_media(color_scheme=scheme)
        problems += axe_violations(wen, axe_script)
        wen.shot(artifacts, f"41-message-features-{scheme}")
    xia_api.close()
    assert not problems, problems
