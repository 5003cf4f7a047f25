"""Regenerate, edit and resend: each makes a branch, and the arrows move between them."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, BrowserStack, last_answer, register_in_browser, send


def _stored_conversation(base_url: str, email: str) -> dict[str, Any]:
    """The user's only conversation as history stores it (read through the gateway, as that user)."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        [item] = http.get("/api/history/conversations", headers=auth).json()["items"]
        got = http.get(f"/api/history/conversations/{item['id']}", headers=auth)
        assert got.status_code == 200, got.text
        detail: dict[str, Any] = got.json()
        return detail


def test_regenerate_makes_a_new_version_and_the_arrows_switch_back(
    page: Page, browser_stack: BrowserStack
) -> None:
    email = register_in_browser(page)
    send(page, "Give me an answer [regen]")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "done")
    first = answer.inner_text().split("\n")[0]
    answer.get_by_role("button", name="Regenerate").click()
    answer = last_answer(page)
    expect(answer.get_by_test_id("branch-switcher")).to_contain_text("2 / 2")
    expect(answer).to_have_attribute("data-status", "done")
    expect(answer).not_to_contain_text(first)
    second = answer.inner_text().split("\n")[0]

    answer.get_by_role("button", name="Previous version").click()
    expect(last_answer(page)).to_contain_text(first)
    expect(last_answer(page).get_by_test_id("branch-switcher")).to_contain_text("1 / 2")
    last_answer(page).get_by_role("button", name="Next version").click()
    expect(last_answer(page)).to_contain_text(second)

    # Both versions come back from history after a reload, as two answers of one stored prompt.
    # The reload waits until history has the version shown: a reload cancels a PATCH in flight.
    _until_shown_is_stored(browser_stack.url, email, newest=True)
    page.reload()
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(last_answer(page).get_by_test_id("branch-switcher")).to_contain_text("2 / 2")
    stored = _stored_conversation(browser_stack.url, email)
    [prompt] = [m for m in stored["messages"] if m["role"] == "user"]
    answers = [m for m in stored["messages"] if m["role"] == "assistant"]
    assert [a["parent_id"] for a in answers] == [prompt["id"], prompt["id"]], stored["messages"]

    # History remembers the version shown: the first one, after another reload.
    last_answer(page).get_by_role("button", name="Previous version").click()
    expect(last_answer(page).get_by_test_id("branch-switcher")).to_contain_text("1 / 2")
    _until_shown_is_stored(browser_stack.url, email, newest=False)
    page.reload()
    expect(last_answer(page)).to_contain_text(first)
    expect(last_answer(page).get_by_test_id("branch-switcher")).to_contain_text("1 / 2")


def _until_shown_is_stored(base_url: str, email: str, *, newest: bool) -> None:
    """Wait until history's current leaf is the newest (or the oldest) of the two answers."""
    deadline = time.monotonic() + 15
    while True:
        stored = _stored_conversation(base_url, email)
        answers = sorted(
            (m for m in stored["messages"] if m["role"] == "assistant"), key=lambda a: a["created_at"]
        )
        if len(answers) == 2 and stored["current_leaf_id"] == answers[-1 if newest else 0]["id"]:
            return
        assert time.monotonic() < deadline, "history never recorded the version shown"
        time.sleep(0.2)


def test_edit_a_sent_message_and_resend(page: Page) -> None:
    register_in_browser(page)
    send(page, "What is the capital of France?")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    send(page, "And of Spain?")
    expect(page.locator('[data-role="assistant"]')).to_have_count(2)
    expect(last_answer(page)).to_have_attribute("data-status", "done")

    first_prompt = page.locator('[data-role="user"]').first
    first_prompt.hover()
    first_prompt.get_by_role("button", name="Edit message").click()
    editor = page.get_by_role("textbox", name="Edit message")
    editor.fill("What is the capital of Italy?")
    page.get_by_role("button", name="Send", exact=True).click()

    # The edit starts a new branch from that point: one prompt and its new answer.
    expect(page.locator('[data-role="user"]')).to_have_count(1)
    expect(page.locator('[data-role="user"]').first).to_contain_text("capital of Italy")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    switcher = page.locator('[data-role="user"]').first.get_by_test_id("branch-switcher")
    expect(switcher).to_contain_text("2 / 2")
    switcher.get_by_role("button", name="Previous version").click()
    expect(page.locator('[data-role="user"]')).to_have_count(2)
    expect(page.locator('[data-role="user"]').first).to_contain_text("capital of France")
    expect(page.locator('[data-role="user"]').last).to_contain_text("And of Spain?")
