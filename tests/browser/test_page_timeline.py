"""What the page shows and how it gets attention: grouped messages with day and unread
dividers, safe links, the jump-to-new button, the live room list (rooms created, rooms
deleted, kicks), confirmations, desktop notifications and the unread count in the title."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.chatpage import expect_confirmed
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser

CONTINUED = re.compile(r"\bcontinued\b")


def my_id(chat) -> str:
    """The signed-in person's user id, as the page's session sees it."""
    return chat.page.evaluate(
        "async () => (await (await fetch('/v1/chats/users/me')).json()).id")


def post(client: ChatClient, room_id: str, text: str) -> dict:
    return client.post_message(room_id, text, id=str(uuid.uuid4()))


def test_timeline_groups_dividers_links_and_jump_button(live_server, open_page, artifacts):
    mia = open_page(live_server.url, "mia").sign_up("mia")
    nils = ChatClient(live_server.api).register("nils")
    general = nils.general_room()["id"]
    quiet = nils.create_room("quiet-corner")
    mia.open_room("general")
    read_up_to = post(nils, general, "read before leaving")
    expect_confirmed(mia.message(read_up_to["id"]))

    # Mia looks elsewhere while Nils writes; back in general the unread divider sits
    # right before the first message she has not seen.
    mia.tid("join-room").and_(mia.page.locator(f"[data-room-id='{quiet['id']}']")).click()
    expect(mia.title).to_have_text("quiet-corner")
    unseen = [post(nils, general, f"while you were away {n}") for n in (1, 2)]
    expect(mia.room_item("general").get_by_test_id("unread-badge")).to_have_text("2")
    mia.open_room("general")
    divider = mia.tid("unread-divider")
    expect(divider).to_have_count(1)
    assert divider.evaluate("n => n.previousElementSibling.dataset.messageId") == read_up_to["id"]
    assert divider.evaluate("n => n.nextElementSibling.dataset.messageId") == unseen[0]["id"]
    mia.shot(artifacts, "30-unread-divider")

    # Grouping: Nils's messages within five minutes form one group; Mia's breaks it.
    expect(mia.message(unseen[0]["id"])).not_to_have_class(CONTINUED)  # after the divider
    expect(mia.message(unseen[1]["id"])).to_have_class(CONTINUED)
    mine = mia.post("my turn")
    expect_confirmed(mine)
    expect(mine).not_to_have_class(CONTINUED)
    expect(mine.get_by_test_id("message-author")).to_be_visible()
    back = post(nils, general, "and mine again")
    expect(mia.message(back["id"])).not_to_have_class(CONTINUED)
    expect(mia.message(back["id"]).get_by_test_id("message-author")).to_be_visible()
    expect(mia.message(unseen[1]["id"]).get_by_test_id("message-author")).to_have_text("nils")
    # Today's messages sit under a "Today" divider; other days get their own labels.
    expect(mia.tid("day-divider").last).to_have_text("Today")
    labels = mia.page.evaluate("""async () => {
        const src = document.querySelector('script[type=module]').src;
        const { dayLabel } = await import(new URL('timeline.js', src));
        const now = new Date(2026, 2, 10, 9, 30);
        return [new Date(2026, 2, 10, 0, 1), new Date(2026, 2, 9, 23, 59),
                new Date(2026, 2, 3, 12), new Date(2025, 11, 24, 12)]
            .map((d) => dayLabel(d, now));
    }""")
    assert labels[:2] == ["Today", "Yesterday"]
    assert labels[2] == "Tuesday, March 3" and labels[3] == "Wednesday, December 24, 2025"

    # Links: http(s) only, opened safely; everything else stays text.
    text = ("docs at https://example.com/a_(b)?q=1. not javascript:alert(1) nor "
            "<a href=\"javascript:alert(2)\">x</a> but http://chat.test/x.")
    linked = post(nils, general, text)
    body = mia.message(linked["id"]).get_by_test_id("message-text")
    expect(body).to_have_js_property("textContent", text)
    links = body.get_by_test_id("message-link")
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [
        "https://example.com/a_(b)?q=1", "http://chat.test/x"]
    for i in range(2):
        expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer")
        expect(links.nth(i)).to_have_attribute("target", "_blank")
    expect(mia.page.locator("[data-testid=messages] a[href^='javascript' i]")).to_have_count(0)
    expect(mia.page.locator("[data-testid=messages] a:not([data-testid=message-link])")) \
        .to_have_count(0)

    # The live region tells screen readers about arrivals from others.
    expect(mia.tid("announcer")).to_have_text(f"nils: {text}")

    # Scrolled up, arrivals don't move the view; a button offers the way down.
    # (Few but tall messages: the server allows a user 20 posts a second.)
    last = None
    for n in range(8):
        last = post(nils, general, "\n".join(f"filler {n}, line {i}" for i in range(8)))
    expect(mia.message(last["id"])).to_have_count(1)
    box = mia.tid("messages")
    box.evaluate("n => { n.scrollTop = 0; }")
    expect(mia.tid("jump-new")).to_be_hidden()
    newest = post(nils, general, "arrived while you scrolled up")
    expect(mia.message(newest["id"])).to_have_count(1)
    jump = mia.tid("jump-new")
    expect(jump).to_be_visible()
    expect(jump).to_have_text(re.compile(r"^1 new message"))
    assert box.evaluate("n => n.scrollTop") < 100, "the view was moved"
    mia.shot(artifacts, "31-jump-button")
    jump.click()
    expect(jump).to_be_hidden()
    expect(mia.message(newest["id"])).to_be_in_viewport()
    nils.close()


def test_live_room_list_kick_and_delete_with_confirmations(live_server, open_page, artifacts):
    olga = open_page(live_server.url, "olga").sign_up("olga")
    pete = open_page(live_server.url, "pete").sign_up("pete")
    olga.page.evaluate("window.__sameDocument = true")
    pete_api = ChatClient(live_server.api)
    pete_api.login("pete")

    # Pete creates a public room; it is offered to Olga at once.
    pete.tid("new-room-name").fill("fresh-news")
    pete.tid("create-room").click()
    expect(pete.title).to_have_text("fresh-news")
    room_id = pete.room_item("fresh-news").get_attribute("data-room-id")
    join = olga.page.locator(f"[data-testid=join-room][data-room-id='{room_id}']")
    expect(join).to_have_count(1)
    join.click()
    expect(olga.title).to_have_text("fresh-news")

    # Leaving asks first; Escape (or Cancel) keeps the room.
    leave = olga.tid("leave-room")
    leave.focus()
    olga.page.keyboard.press("Enter")
    dialog = olga.tid("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Leave fresh-news?")
    expect(olga.tid("confirm-cancel")).to_be_focused()
    olga.shot(artifacts, "32-confirm-leave")
    olga.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(leave).to_be_focused()
    expect(olga.title).to_have_text("fresh-news")

    # Kicked: the room leaves her list and the view says why.
    olga_id = my_id(olga)
    assert pete_api.delete(f"/rooms/{room_id}/users/{olga_id}").status_code == 204
    expect(olga.tid("room-empty")).to_have_text("You were removed from fresh-news.")
    expect(olga.tid("room-empty")).to_be_visible()
    expect(olga.tid("room-empty")).to_be_focused()  # focus was on Leave, now hidden
    expect(olga.room_item("fresh-news")).to_have_count(0)
    expect(olga.title).to_have_text("No room open")
    assert "#/rooms/" not in olga.page.url
    olga.shot(artifacts, "33-kicked")

    # Deleted: Pete confirms; Olga, back in the room, is told.
    second = pete_api.create_room("doomed-room")
    olga.page.locator(f"[data-testid=join-room][data-room-id='{second['id']}']").click()
    expect(olga.title).to_have_text("doomed-room")
    pete.page.reload()
    expect(pete.state).to_have_text("live")
    pete.open_room("doomed-room")
    pete.tid("delete-room").click()
    expect(pete.tid("confirm-dialog")).to_contain_text("Delete doomed-room?")
    pete.tid("confirm-cancel").click()
    expect(pete.title).to_have_text("doomed-room")
    pete.tid("delete-room").click()
    pete.tid("confirm-ok").click()
    expect(pete.tid("room-empty")).to_have_text("You deleted doomed-room.")
    expect(olga.tid("room-empty")).to_have_text("doomed-room was deleted.")
    expect(olga.tid("notice")).to_contain_text("doomed-room was deleted.")
    expect(olga.room_item("doomed-room")).to_have_count(0)
    # Notices fade by themselves.
    expect(olga.tid("notice")).to_be_hidden(timeout=12_000)
    assert olga.page.evaluate("window.__sameDocument") is True
    pete_api.close()


FAKE_NOTIFICATION = """
window.__notifications = [];
window.__permissionRequests = 0;
class FakeNotification {
  constructor(title, options = {}) {
    window.__notifications.push({ title, body: options.body });
  }
  close() {}
}
FakeNotification.permission = "default";
FakeNotification.requestPermission = async () => {
  window.__permissionRequests++;
  FakeNotification.permission = "granted";
  return "granted";
};
window.Notification = FakeNotification;
"""

SET_HIDDEN = """(hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', { configurable: true,
        get: () => hidden ? 'hidden' : 'visible' });
    document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_notifications_for_direct_messages_and_mentions_and_unread_title(live_server, open_page):
    quinn = open_page(live_server.url, "quinn")
    quinn.page.context.grant_permissions(["notifications"])
    quinn.page.add_init_script(FAKE_NOTIFICATION)
    quinn.sign_up("quinn")
    quinn.open_room("general")
    expect(quinn.page).to_have_title("Chatterly")
    rosa = ChatClient(live_server.api).register("rosa")
    general = rosa.general_room()["id"]

    # Never asked on load; asked once through the button.
    assert quinn.page.evaluate("window.__permissionRequests") == 0
    enable = quinn.tid("notify-enable")
    expect(enable).to_be_visible()
    enable.click()
    expect(enable).to_be_hidden()
    expect(quinn.tid("notify-state")).to_contain_text("On")
    assert quinn.page.evaluate("window.__permissionRequests") == 1

    # Hidden tab: a first direct message (its room not even listed yet) and an @mention
    # notify; other messages only count in the title.
    quinn.page.evaluate(SET_HIDDEN, True)
    post(rosa, general, "nothing for you here, @quinnx")
    post(rosa, general, "hey @QUINN, look at this")
    direct = rosa.put(f"/users/{my_id(quinn)}/direct").json()
    post(rosa, direct["id"], "a direct word")
    expect(quinn.page).to_have_title("(3) Chatterly")
    quinn.page.wait_for_function("window.__notifications.length >= 2")
    notes = {n["body"]: n["title"] for n in quinn.page.evaluate("window.__notifications")}
    assert set(notes) == {"hey @QUINN, look at this", "a direct word"}, notes
    assert "rosa" in notes["hey @QUINN, look at this"]
    assert "general" in notes["hey @QUINN, look at this"]
    assert "rosa" in notes["a direct word"] and "direct" in notes["a direct word"]

    # Back on the tab: the open room is read, the title counts the rest; a visible tab
    # gets no notification, even for a direct message.
    quinn.page.evaluate(SET_HIDDEN, False)
    expect(quinn.page).to_have_title("(1) Chatterly")
    post(rosa, direct["id"], "hi while you look")
    expect(quinn.room_item(kind="direct").get_by_test_id("unread-badge")).to_have_text("2")
    expect(quinn.page).to_have_title("(2) Chatterly")
    assert quinn.page.evaluate("window.__notifications.length") == 2
    rosa.close()
