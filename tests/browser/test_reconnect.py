"""The gateway goes away mid-answer: the page shows it is reconnecting, resumes its
session when the gateway is back, and the answer arrives whole."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import (
    BrowserStack,
    expect_whole_slow_answer_then_chat_on,
    last_answer,
    register_in_browser,
    send,
)


def test_the_socket_reconnects_and_the_answer_survives_a_gateway_restart(
    page: Page, browser_stack: BrowserStack
) -> None:
    register_in_browser(page)
    send(page, "Keep going while I reconnect [slow]")
    answer = last_answer(page)
    expect(answer).to_contain_text("word3")
    gateway = browser_stack.stack.gateways[0]
    gateway.process.kill()
    status = page.get_by_test_id("connection")
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(status).to_contain_text("Reconnecting")
    gateway.process.start()
    gateway.process.wait_ready(f"{gateway.ops}/readyz", timeout=30)
    expect(status).to_have_attribute("data-state", "open", timeout=30_000)
    expect_whole_slow_answer_then_chat_on(page, answer)
