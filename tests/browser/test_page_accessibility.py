"""axe-core finds no serious or critical accessibility violation on the signed-out page, a
room and a direct conversation, at desktop and phone widths; my name and connection state
stay in view at both.

axe-core comes from npm (tests/browser/package.json; `npm ci --prefix tests/browser`). Without
it these tests skip, except under CI=true, where a missing axe-core fails them, as a missing
service does elsewhere in this suite.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.chatpage import DESKTOP, PHONE, expect_confirmed
from tests.support.server import ChatClient

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def axe_script() -> Path:
    if not AXE.exists():
        message = f"axe-core is not installed ({AXE}); run: npm ci --prefix tests/browser"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return AXE


def axe_violations(chat, axe_script: Path) -> list[str]:
    """Serious and critical violations on the page as it is now, one line each."""
    if not chat.page.evaluate("typeof window.axe === 'object'"):
        chat.page.add_script_tag(path=str(axe_script))
    results = chat.page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ['violations'] });
        return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
        }));
    }""")
    return [f"{v['impact']} {v['id']}: {v['help']} at {v['targets']}"
            for v in results if v["impact"] in BLOCKING]


def identity_in_view(chat, viewport) -> None:
    for test_id in ("whoami", "connection-state"):
        node = chat.tid(test_id)
        expect(node).to_be_visible()
        box = node.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, \
            (test_id, box)
    expect(chat.tid("whoami")).to_have_text(chat.name)
    expect(chat.state).to_have_text("live")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_no_serious_axe_violations(axe_script, live_server, open_page, viewport, artifacts):
    width = viewport["width"]
    name = f"axe{width}"
    # The page's CSP allows only its own scripts; axe is injected inline, so bypass it.
    chat = open_page(live_server.url, name, viewport=viewport, bypass_csp=True)
    asked: list[str] = []
    chat.page.on("request", lambda r: "/v1/chats/" in r.url and asked.append(r.url))
    chat.goto()
    expect(chat.page).to_have_title("Chatterly")
    expect(chat.page.get_by_role("heading", level=1)).to_have_text("Chatterly")
    # Signed out (no sign-in hint) the page asks the API nothing: no 401 in the console.
    assert asked == [], asked
    problems = {"signed out": axe_violations(chat, axe_script)}

    chat.sign_up(name)
    identity_in_view(chat, viewport)
    friend = ChatClient(live_server.api).register(f"friend{width}")
    general = friend.general_room()["id"]
    friend.post_message(general, f"hello {name}, see https://example.com", id=str(uuid.uuid4()))
    chat.open_room("general")  # on a phone, the room list fills the screen until then
    expect_confirmed(chat.post("a message of my own"))
    identity_in_view(chat, viewport)
    chat.shot(artifacts, f"20-axe-room-{width}")
    problems["room"] = axe_violations(chat, axe_script)

    if width < 700:
        chat.tid("nav-toggle").click()
    chat.tid("dm-name").fill(friend.user["name"])
    chat.tid("dm-open").click()
    expect(chat.title).to_have_text(f"@{friend.user['name']}")
    expect_confirmed(chat.post("a direct message"))
    identity_in_view(chat, viewport)
    problems["direct message"] = axe_violations(chat, axe_script)
    chat.shot(artifacts, f"21-axe-direct-{width}")
    friend.close()
    assert not any(problems.values()), problems
