"""API.md "Operations" (1.1): `GET /docs`, outside /v1/chats like the page, is a readable
API reference rendered from the OpenAPI document, with no outside assets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)


def test_docs_page_uses_only_same_origin_assets_that_all_load(live_server):
    page = requests.get(live_server.url + "/docs", timeout=10)
    assert page.status_code == 200, page.text[:300]
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    parser = _Refs()
    parser.feed(page.text)
    assert parser.refs, "no assets referenced"
    scripts = [r for r in parser.refs if r.endswith(".js")]
    assert len(scripts) >= 2, parser.refs  # Swagger UI and the start-up script
    origin = urlsplit(live_server.url)
    for ref in parser.refs:
        url = urljoin(page.url, ref)
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc), ref
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, (ref, response.status_code)
        assert response.content, ref
        if ref.endswith(".js"):
            # The scripts themselves load nothing from another site either.
            assert not re.search(r"""(src|href)\s*=\s*["']https?://""", response.text), ref
    startup = next(r for r in scripts if "swagger-ui-bundle" not in r)
    code = requests.get(urljoin(page.url, startup), timeout=10).text
    assert "/v1/chats/openapi.json" in code and "validatorUrl: null" in code
    spec = requests.get(live_server.api + "/openapi.json", timeout=10)
    assert spec.status_code == 200 and spec.json()["openapi"].startswith("3.1")


def test_only_the_pages_assets_are_served(live_server):
    assert requests.get(live_server.url + "/docs/swagger-ui/oauth2-redirect.html",
                        timeout=10).status_code == 404
    assert requests.get(live_server.url + "/docs/swagger-ui/..%2Fflask_swagger_ui.py",
                        timeout=10).status_code == 404
