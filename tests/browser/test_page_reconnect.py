"""The page rides out a server restart by itself: it shows `reconnecting`, then `live`
again, and ends with every message exactly once, while someone else keeps posting through
the API before, during and after the restart."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.chatpage import PENDING, expect_confirmed
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser


class Poster(threading.Thread):
    """Posts numbered messages to a room as fast as the server takes them. Each message has
    its own client id and is retried with that id (idempotent) until the server answers
    202, so a post that fails while the server is down is neither lost nor doubled."""

    def __init__(self, client: ChatClient, room_id: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.client, self.room_id, self.prefix = client, room_id, prefix
        self.sent: list[str] = []  # ids answered 202, in order
        self.failures = 0  # attempts refused or unanswered (server down)
        self.stop = threading.Event()
        self.progress = threading.Condition()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                message_id, n = str(uuid.uuid4()), len(self.sent) + 1
                while not self.stop.is_set():
                    try:
                        response = self.client.post(
                            f"/rooms/{self.room_id}/messages", timeout=3,
                            json={"message": f"{self.prefix} {n}", "id": message_id})
                    except requests.RequestException:
                        response = None
                    if response is not None and response.status_code == 202:
                        with self.progress:
                            self.sent.append(message_id)
                            self.progress.notify_all()
                        break
                    if response is not None and response.status_code < 500 \
                            and response.status_code != 429:
                        raise AssertionError(f"post answered {response.status_code}: "
                                             f"{response.text[:300]}")
                    self.failures += 1
                    self.stop.wait(0.05)  # pacing for a server that is down, not a test wait
                self.stop.wait(0.1)  # a steady conversation, not a flood
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def wait_for(self, count: int, timeout: float = 15) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.sent) >= count or self.error,
                                          timeout), f"only {len(self.sent)} posts went through"
        assert self.error is None, self.error

    def finish(self) -> list[str]:
        self.stop.set()
        self.join(10)
        assert self.error is None, self.error
        return list(self.sent)


def test_page_reconnects_after_server_restart_without_gaps_or_duplicates(
        server_factory, open_page, problems, artifacts):
    server = server_factory()
    # While the server is down the browser logs failed requests; that is expected here.
    problems.allow_console(r"ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE"
                           r"|ERR_INCOMPLETE_CHUNKED_ENCODING|status of 50[23] "
                           r"|TypeError: Failed to fetch")

    frank = open_page(server.url, "frank").sign_up("frank")
    frank.open_room("general")
    grace = ChatClient(server.api).register("grace")
    general = grace.general_room()["id"]

    before = grace.post_message(general, "before the restart", id=str(uuid.uuid4()))
    expect_confirmed(frank.message(before["id"]), "before the restart")
    expect_confirmed(frank.post("hi grace, all good here"))
    frank.page.evaluate("window.__sameDocument = true")
    subscribes: list[str | None] = []  # the Last-Event-ID of each stream request
    frank.page.on("request", lambda r: "/subscribe" in r.url
                  and subscribes.append(r.header_value("last-event-id")))

    poster = Poster(grace, general, "grace keeps talking")
    poster.start()
    try:
        poster.wait_for(3)
        expect(frank.message(poster.sent[2])).to_have_count(1)  # live before the restart

        stopping = time.monotonic()
        server.terminate()
        # The page reconnects during the graceful shutdown; that must not keep the old
        # server alive until its 30 s graceful timeout.
        assert time.monotonic() - stopping < 15, "shutdown waited for a reconnected stream"
        expect(frank.state).to_have_text("reconnecting")
        frank.shot(artifacts, "07-reconnecting")
        # Frank writes while the server is down: it stays pending and is retried.
        offline = frank.post("written while the server was down")
        offline_id = offline.get_attribute("data-message-id")
        expect(offline).to_have_class(PENDING)
        sent_while_down = len(poster.sent)

        server.start()
        expect(frank.state).to_have_text("live", timeout=15_000)
        poster.wait_for(sent_while_down + 5)
        expect_confirmed(frank.message(offline_id), "written while the server was down")
        expect(frank.message(poster.sent[-1])).to_have_count(1)
    finally:
        sent = poster.finish()
    assert poster.failures > 0, "the poster never hit the restart; the test proved nothing"
    # Delivered only once stored: after this, history holds every accepted post.
    expect(frank.message(sent[-1])).to_have_count(1)

    history = grace.history(general, limit=200)
    assert len(history) < 200, "more history than one page; raise the limit"
    history_ids = [m["id"] for m in history]
    assert set(sent) <= set(history_ids), "a post answered 202 was lost in the restart"
    assert Counter(history_ids).most_common(1)[0][1] == 1
    assert offline_id in history_ids
    # The page shows exactly the stored history: each message once, in stored order.
    expect(frank.messages).to_have_count(len(history), timeout=15_000)
    shown = frank.message_ids()
    duplicates = [mid for mid, n in Counter(shown).items() if n > 1]
    assert not duplicates, f"shown more than once: {duplicates}"
    assert shown == history_ids
    expect(frank.page.locator("[data-testid=message].pending")).to_have_count(0)
    assert frank.page.evaluate("window.__sameDocument") is True, "the page reloaded itself"
    expect(frank.state).to_have_text("live")
    frank.shot(artifacts, "08-live-again")
    # EventSource reconnected by itself and resumed from the last message it had seen.
    assert any(last_id in history_ids for last_id in subscribes), subscribes
    grace.close()
