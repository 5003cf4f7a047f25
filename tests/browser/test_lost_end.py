"""The network loses what the gateway sends while an answer streams: the gateway's writes
succeed, so it takes the answer's frames, its end included, as delivered, and a resume
brings nothing of it back. The page still ends the answer whole, from history, once the
answer has been silent a while, instead of showing it as running for ever."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import (
    PASSWORD,
    BrowserStack,
    expect_whole_slow_answer_then_chat_on,
    last_answer,
    register_in_browser,
    send,
)
from .netproxy import LossyProxy


@pytest.fixture
def proxy(browser_stack: BrowserStack) -> Iterator[LossyProxy]:
    port = urlparse(browser_stack.url).port
    assert port is not None
    with LossyProxy(port).running() as running:
        yield running


@pytest.fixture
def lossy_page(browser: Browser, browser_context_args: dict[str, Any], proxy: LossyProxy) -> Iterator[Page]:
    """A page whose every connection goes through the proxy."""
    context = browser.new_context(**{**browser_context_args, "base_url": proxy.url})
    try:
        yield context.new_page()
    finally:
        context.close()


def _stored_answer(base_url: str, email: str, conversation_id: str, within_s: float = 30) -> dict[str, Any]:
    """The conversation's answer once history has stored how it ended."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        deadline = time.monotonic() + within_s
        while True:
            got = http.get(f"/api/history/conversations/{conversation_id}", headers=headers)
            assert got.status_code == 200, got.text
            answers = [m for m in got.json()["messages"] if m["role"] == "assistant"]
            if answers and answers[-1]["status"] != "pending":
                return dict(answers[-1])
            assert time.monotonic() < deadline, f"history has no ended answer after {within_s} s: {answers}"
            time.sleep(0.2)


def test_an_answer_whose_end_the_network_lost_ends_whole_from_history(
    lossy_page: Page, proxy: LossyProxy, browser_stack: BrowserStack
) -> None:
    page = lossy_page
    email = register_in_browser(page)
    send(page, "Talk while the network drops [slow]")
    answer = last_answer(page)
    expect(answer).to_contain_text("word3")
    assert proxy.lose_websockets() == 1

    conversation_id = parse_qs(urlparse(page.url).query)["id"][0]
    stored = _stored_answer(browser_stack.url, email, conversation_id)
    assert stored["status"] == "finished"
    assert stored["content"].endswith("word79 end.")
    assert "end." not in answer.inner_text()  # nothing after the loss reached the page
    expect(answer).to_have_attribute("data-status", "streaming")

    assert proxy.cut() == 1
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open", timeout=30_000)
    # The resumed socket brings nothing of it (the gateway took it all as sent): history does.
    expect_whole_slow_answer_then_chat_on(page, answer)
