"""Browser tests: headless Debian Chromium (never a downloaded one) driving the real page
against a real gunicorn + gevent server on PostgreSQL.

Screenshots of the main states go to test-artifacts/browser/ (git-ignored), with a log of
each page's console. docs/screenshot.png (shown by the README) is written when it is
missing, and rewritten when UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.browser.chatpage import DESKTOP, ChatPage
from tests.support.server import REPO_ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "screenshot.png"
TIMEOUT_MS = 10_000  # every auto-waiting expectation; well under 15 s


@pytest.fixture(scope="module")
def database_url(request):
    """PostgreSQL only (the production database)."""
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="session", autouse=True)
def chromium_path() -> Path:
    """Skips (fails under CI=true) before any database or server is set up when there is
    no Chromium: these tests never download a browser."""
    if not CHROMIUM.exists():
        message = (f"Chromium not found at {CHROMIUM} (install Debian's chromium package "
                   "or set CHROMIUM_PATH)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class PageProblems:
    """What a page did that it never should: dialogs, uncaught errors, console errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.page_errors: list[str] = []
        self.console: list[str] = []
        # Console errors matching these are expected in a test (e.g. a stopped server).
        self.allowed_console: list[re.Pattern[str]] = []

    def allow_console(self, pattern: str) -> None:
        self.allowed_console.append(re.compile(pattern))

    def unexpected_console(self) -> list[str]:
        return [line for line in self.console
                if line.startswith(("error", "warning"))
                and not any(p.search(line) for p in self.allowed_console)]


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def open_page(browser, artifacts, problems, request) -> Iterator[Callable[..., ChatPage]]:
    """``open_page(base_url, label, **context_options) -> ChatPage`` in a fresh browser
    context (own cookies: one person). Any dialog (e.g. an injected ``alert``) or uncaught
    script error fails the test; unexpected console errors too."""
    contexts = []
    logs: list[tuple[str, list[str]]] = []

    def make(base_url: str, label: str = "page", **options) -> ChatPage:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("color_scheme", "light")
        options.setdefault("locale", "en-US")
        options.setdefault("timezone_id", "UTC")
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        log: list[str] = []
        logs.append((label, log))

        def on_console(msg):
            url = (msg.location or {}).get("url")
            line = f"{msg.type}: {msg.text}" + (f" [{url}]" if url else "")
            log.append(line)
            problems.console.append(line)

        def on_dialog(dialog):
            problems.dialogs.append(f"{label}: {dialog.type} {dialog.message!r}")
            dialog.dismiss()

        def on_page_error(error):
            log.append(f"pageerror: {error}")
            problems.page_errors.append(f"{label}: {error}")

        page.on("console", on_console)
        page.on("dialog", on_dialog)
        page.on("pageerror", on_page_error)
        return ChatPage(page, base_url)

    yield make
    for context in contexts:
        context.close()
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for label, log in logs:
        if log:
            (artifacts / f"{test_name}-{label}.console.txt").write_text("\n".join(log) + "\n")
    assert not problems.dialogs, f"the page opened dialogs: {problems.dialogs}"
    assert not problems.page_errors, f"uncaught errors in the page: {problems.page_errors}"
    assert not problems.unexpected_console(), \
        f"console errors: {problems.unexpected_console()}"


@pytest.fixture
def docs_screenshot() -> Callable[[ChatPage], bool]:
    """``save(chat)``: the README's picture, written when missing and rewritten only when
    UPDATE_SCREENSHOT=1. Returns whether it wrote."""

    def save(chat: ChatPage) -> bool:
        if DOCS_SCREENSHOT.exists() and os.environ.get("UPDATE_SCREENSHOT") != "1":
            return False
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        chat.page.screenshot(path=str(DOCS_SCREENSHOT))
        return True

    return save
