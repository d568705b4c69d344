"""The page on a phone, with the keyboard alone, and in dark mode."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.chatpage import DESKTOP, PHONE, expect_confirmed
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser

PHONE_OPTIONS = {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True,
                 "has_touch": True}


def no_sideways_scroll(chat) -> None:
    overflow = chat.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def inside_viewport(locator, viewport) -> None:
    box = locator.bounding_box()
    assert box is not None, "not rendered"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"] + 0.5, box


def test_phone_sized_page_is_usable(live_server, open_page, artifacts):
    pat = open_page(live_server.url, "pat", **PHONE_OPTIONS)
    pat.goto()
    no_sideways_scroll(pat)
    expect(pat.tid("nav-toggle")).to_be_hidden()  # nothing to toggle before signing in
    pat.shot(artifacts, "09-phone-sign-in")
    pat.sign_up("pat")

    # Signed in, no room open: the room list fills the screen, the toggle is offered.
    toggle = pat.tid("nav-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    general = pat.room_item("general")
    expect(general).to_be_visible()
    expect(pat.tid("messages")).to_be_hidden()
    no_sideways_scroll(pat)
    pat.shot(artifacts, "10-phone-rooms")

    general.get_by_role("button").tap()
    expect(pat.title).to_have_text("general")
    expect(general).to_be_hidden()  # the room list makes way for the room
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(pat.tid("messages")).to_be_visible()
    expect(pat.page.locator("#members-pane")).not_to_have_attribute("open", re.compile(".*"))
    expect(pat.tid("member").first).to_be_hidden()  # member list collapsed
    inside_viewport(pat.composer, PHONE)

    # Post with the on-screen Send button, as a thumb would.
    pat.composer.tap()
    pat.composer.fill("typing on a small screen")
    pat.page.get_by_role("button", name="Send").tap()
    sent = pat.message_with_text("typing on a small screen")
    expect(sent).to_have_count(1)
    expect_confirmed(sent)
    inside_viewport(sent, PHONE)
    no_sideways_scroll(pat)
    pat.shot(artifacts, "11-phone-room")

    # The member list opens on demand; the toggle brings the room list back.
    pat.page.locator("#members-pane summary").tap()
    expect(pat.page.locator("[data-testid=member][data-online=true]")).not_to_have_count(0)
    pat.shot(artifacts, "12-phone-members")
    toggle.tap()
    expect(general).to_be_visible()
    expect(pat.tid("messages")).to_be_hidden()
    toggle.tap()
    expect(pat.tid("messages")).to_be_visible()
    expect(sent).to_be_visible()
    # Escape closes the room list too, back to the room, focus on the toggle.
    toggle.tap()
    expect(general).to_be_visible()
    pat.page.keyboard.press("Escape")
    expect(pat.tid("messages")).to_be_visible()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")


def test_keyboard_only_sign_in_and_post(live_server, open_page, artifacts):
    ChatClient(live_server.api).register("kim").close()
    kim = open_page(live_server.url, "kim")
    kim.goto()
    keyboard = kim.page.keyboard
    # The name field has focus on arrival; Tab to the password, Enter signs in.
    expect(kim.tid("name")).to_be_focused()
    keyboard.type("kim")
    keyboard.press("Tab")
    expect(kim.tid("password")).to_be_focused()
    keyboard.type("password123")
    keyboard.press("Enter")
    kim.await_signed_in("kim")

    # Tab to the room, Enter opens it (the composer gets focus), Enter posts.
    room_button = kim.room_item("general").get_by_role("button")
    for _ in range(12):
        keyboard.press("Tab")
        if room_button.evaluate("n => n === document.activeElement"):
            break
    expect(room_button).to_be_focused()
    outline = room_button.evaluate("n => getComputedStyle(n).outlineStyle")
    assert outline not in ("", "none"), "keyboard focus is not visible"
    keyboard.press("Enter")
    expect(kim.title).to_have_text("general")
    expect(kim.composer).to_be_focused()
    keyboard.type("no mouse needed")
    keyboard.press("Shift+Enter")
    keyboard.type("not even for two lines")
    keyboard.press("Enter")
    sent = kim.message_with_text("no mouse needed\nnot even for two lines")
    expect(sent).to_have_count(1)
    expect_confirmed(sent)
    expect(sent.get_by_test_id("message-text")).to_have_js_property(
        "textContent", "no mouse needed\nnot even for two lines")
    expect(kim.composer).to_be_focused()  # ready for the next message
    expect(kim.composer).to_have_value("")
    kim.shot(artifacts, "13-keyboard-only")


def test_dark_mode_renders(live_server, open_page, artifacts):
    light = open_page(live_server.url, "light", color_scheme="light").goto()
    dark = open_page(live_server.url, "dark", color_scheme="dark", viewport=DESKTOP)
    dark.sign_up("nightowl")
    dark.open_room("general")
    sent = dark.post("reading this in the dark")
    expect_confirmed(sent, "reading this in the dark")
    dark.shot(artifacts, "14-dark-desktop")

    def colors(chat):
        return chat.page.evaluate("""() => {
            const style = getComputedStyle(document.body);
            return [style.backgroundColor, style.color];
        }""")

    light_bg, light_fg = colors(light)
    dark_bg, dark_fg = colors(dark)
    assert dark_bg != light_bg, f"dark mode keeps the light background {light_bg}"
    assert luminance(dark_bg) < 0.2 < 0.8 < luminance(light_bg), (dark_bg, light_bg)
    assert luminance(dark_fg) > luminance(dark_bg) + 0.5, "dark mode text must be light"
    assert luminance(light_fg) < luminance(light_bg) - 0.5


def luminance(css_color: str) -> float:
    """Relative luminance (0 black .. 1 white) of an ``rgb(...)``/``rgba(...)`` color."""
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css_color)[:3])
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
