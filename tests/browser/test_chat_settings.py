"""Per-chat system prompt and max tokens reach the model; the panel is the third column on wide screens."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from .conftest import BrowserStack, last_answer, register_in_browser, send


def test_chat_settings_reach_the_model(page: Page, browser_stack: BrowserStack) -> None:
    register_in_browser(page)
    page.get_by_role("button", name="Chat settings").click()
    panel = page.get_by_role("complementary", name="Chat settings")
    expect(panel).to_be_visible()
    panel.get_by_label("System prompt").fill("Talk like a pirate.")
    panel.get_by_label("Max tokens").fill("77")
    panel.get_by_role("button", name="Save").click()
    marker = f"Ahoy {uuid.uuid4().hex[:6]}"
    send(page, marker)
    expect(last_answer(page)).to_have_attribute("data-status", "done")

    [request] = [
        r
        for r in browser_stack.provider.requests
        if any(marker in str(m.get("content")) for m in r.body["messages"])
    ]
    assert request.body["messages"][0] == {"role": "system", "content": "Talk like a pirate."}, request.body
    assert request.body.get("max_tokens") == 77 or request.body.get("max_completion_tokens") == 77, (
        request.body
    )


def test_chat_settings_open_as_a_dialog_on_a_phone(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    register_in_browser(page)
    page.get_by_role("button", name="Chat settings").click()
    dialog = page.get_by_role("dialog", name="Chat settings")
    expect(dialog.get_by_label("System prompt")).to_be_visible()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
