"""A small page object for the chat page (chat/web/), driven through its data-testid hooks.

Every wait is one of Playwright's auto-waiting expectations; nothing sleeps.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

PASSWORD = "password123"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PENDING = re.compile(r"\bpending\b")


class ChatPage:
    """One person's browser tab on the chat page."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.name: str | None = None

    # -- locators
    def tid(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    @property
    def state(self) -> Locator:
        return self.tid("connection-state")

    @property
    def composer(self) -> Locator:
        return self.tid("composer")

    @property
    def title(self) -> Locator:
        return self.tid("room-title")

    @property
    def messages(self) -> Locator:
        return self.tid("message")

    def room_item(self, name: str | None = None, *, kind: str | None = None,
                  room_id: str | None = None) -> Locator:
        selector = "[data-testid=room-item]"
        if name is not None:
            selector += f"[data-room-name={quote(name)}]"
        if kind is not None:
            selector += f"[data-kind={quote(kind)}]"
        if room_id is not None:
            selector += f"[data-room-id={quote(room_id)}]"
        return self.page.locator(selector)

    def message(self, message_id: str) -> Locator:
        return self.page.locator(f"[data-testid=message][data-message-id={quote(message_id)}]")

    def message_with_text(self, text: str) -> Locator:
        return self.messages.filter(has=self.page.get_by_test_id("message-text").get_by_text(
            text, exact=True))

    # -- flows
    def goto(self) -> ChatPage:
        self.page.goto(self.base_url + "/")
        expect(self.tid("auth-form")).to_be_visible()
        return self

    def sign_up(self, name: str, password: str = PASSWORD) -> ChatPage:
        self.goto()
        self.tid("name").fill(name)
        self.tid("password").fill(password)
        self.tid("signup").click()
        return self.await_signed_in(name)

    def sign_in(self, name: str, password: str = PASSWORD, room: str | None = None) -> ChatPage:
        self.goto()
        self.tid("name").fill(name)
        self.tid("password").fill(password)
        self.tid("signin").click()
        return self.await_signed_in(name, room)

    def await_signed_in(self, name: str, room: str | None = None) -> ChatPage:
        """Signed in and live. ``room``: the room that reopens by itself (the last one this
        browser had open for that person); None: no room opens by itself."""
        self.name = name
        expect(self.tid("auth-form")).to_be_hidden()
        expect(self.state).to_have_text("live")
        expect(self.room_item("general")).to_have_count(1)
        expect(self.title).to_have_text(room or "No room open")
        if room is not None:
            expect(self.tid("messages")).not_to_have_attribute("aria-busy", "true")
        return self

    def open_room(self, name: str) -> ChatPage:
        self.room_item(name).get_by_role("button").click()
        expect(self.title).to_have_text(name)
        expect(self.composer).to_be_visible()
        expect(self.tid("messages")).not_to_have_attribute("aria-busy", "true")  # history in
        return self

    def post(self, text: str) -> Locator:
        """Types ``text`` (newlines via Shift+Enter) and sends it with Enter; returns the
        new message's locator, still possibly pending."""
        before = self.message_ids()
        self.composer.fill(text)
        self.composer.press("Enter")
        expect(self.composer).to_have_value("")
        handle = self.page.wait_for_function(
            """([before, text]) => [...document.querySelectorAll(
                   "[data-testid=message].mine")].map((n) => n.dataset.messageId).find((id) =>
                   !before.includes(id) && document.querySelector(
                     `[data-message-id="${id}"] [data-testid=message-text]`).textContent === text)""",
            arg=[before, text])
        return self.message(handle.json_value())

    def message_ids(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "[data-testid=message]", "nodes => nodes.map(n => n.dataset.messageId)")

    def shot(self, artifacts, name: str, **kw: Any) -> None:
        self.page.screenshot(path=str(artifacts / f"{name}.png"), **kw)


def quote(value: str) -> str:
    """A CSS attribute value in double quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expect_confirmed(message: Locator, text: str | None = None) -> None:
    """The message is (or becomes) confirmed by the server's stream."""
    expect(message).not_to_have_class(PENDING)
    if text is not None:
        expect(message.get_by_test_id("message-text")).to_have_text(text)
