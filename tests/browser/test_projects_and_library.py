"""Projects in the sidebar (create, move a chat in, start a chat in one with its defaults) and
the prompt library (save a prompt, pick it when starting a chat: it reaches the model)."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Browser, Page, expect

from .conftest import BrowserStack, last_answer, register_in_browser, send


def _request_with(stack: BrowserStack, marker: str) -> dict[str, Any]:
    [request] = [
        r for r in stack.provider.requests if any(marker in str(m.get("content")) for m in r.body["messages"])
    ]
    return request.body


def _someone_else_sees_it_shared(browser: Browser, base_url: str, name: str) -> None:
    """Another user finds a shared prompt under "Shared", and cannot change it."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    try:
        other = context.new_page()
        register_in_browser(other)
        other.goto("/library/")
        other.get_by_label("Show").select_option("shared")
        theirs = other.get_by_test_id("saved-prompt").filter(has_text=name)
        expect(theirs).to_contain_text("by someone else")
        expect(theirs.get_by_role("button", name=f"Edit {name}")).to_have_count(0)
    finally:
        context.close()


def test_a_chat_moves_into_a_project_and_a_new_chat_there_takes_its_defaults(
    page: Page, browser_stack: BrowserStack
) -> None:
    register_in_browser(page)
    send(page, "Loose chat to file away")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    sidebar = page.get_by_test_id("sidebar")
    # The date groups: the chats outside any project.
    loose = sidebar.get_by_test_id("conversation-list").locator("section")
    expect(sidebar.get_by_role("link", name="Loose chat to file away")).to_be_visible()

    sidebar.get_by_role("button", name="New project").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Project name").fill("Research")
    dialog.get_by_label("Default system prompt").fill("You answer like a researcher.")
    dialog.get_by_role("button", name="Save").click()
    project = sidebar.get_by_test_id("project").filter(has_text="Research")
    expect(project).to_be_visible()

    sidebar.get_by_role("button", name="Options for Loose chat to file away").click()
    page.get_by_role("menuitem", name="Move to project…").click()
    page.get_by_role("dialog").get_by_label("Project").select_option(label="Research")
    page.get_by_role("dialog").get_by_role("button", name="Move").click()
    # Filed under the project, no longer among the loose chats.
    expect(project.get_by_test_id("project-count")).to_have_text("1")
    expect(loose.get_by_role("link", name="Loose chat to file away")).to_have_count(0)
    project.get_by_role("button", name="Research", exact=True).click()
    expect(project.get_by_role("list", name="Chats in Research")).to_contain_text("Loose chat to file away")

    # A new chat in the project starts with its system prompt, and lands in it once stored.
    sidebar.get_by_role("button", name="Options for project Research").click()
    page.get_by_role("menuitem", name="New chat in project").click()
    expect(page.get_by_test_id("chat-project")).to_contain_text("Research")
    marker = f"Project question {uuid.uuid4().hex[:6]}"
    send(page, marker)
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    body = _request_with(browser_stack, marker)
    assert body["messages"][0] == {"role": "system", "content": "You answer like a researcher."}, body
    expect(project.get_by_test_id("project-count")).to_have_text("2")
    expect(project.get_by_role("list", name="Chats in Research")).to_contain_text("Project question")

    # Dragging a chat onto the project files it too. (Typing waits for the new, empty chat: a
    # prompt sent while the navigation is still under way would land in the chat being left.)
    page.get_by_role("link", name="New chat").click()
    expect(page.get_by_role("heading", name="How can I help you today?")).to_be_visible()
    expect(page.get_by_test_id("chat-project")).to_have_count(0)
    send(page, "Chat to drag along")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    dragged = sidebar.get_by_role("link", name="Chat to drag along")
    dragged.drag_to(project.get_by_role("button", name="Research", exact=True))
    expect(project.get_by_test_id("project-count")).to_have_text("3")
    expect(loose.get_by_role("link", name="Chat to drag along")).to_have_count(0)
    expect(project.get_by_role("list", name="Chats in Research")).to_contain_text("Chat to drag along")


def test_a_saved_prompt_is_picked_when_starting_a_chat_and_reaches_the_model(
    page: Page, browser: Browser, browser_stack: BrowserStack
) -> None:
    register_in_browser(page)
    page.get_by_role("link", name="Prompt library").click()
    expect(page.get_by_role("heading", name="Prompt library")).to_be_visible()
    page.get_by_role("button", name="New prompt").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Prompt name").fill("Pirate voice")
    dialog.get_by_label("Prompt text").fill("You talk like a pirate, matey.")
    dialog.get_by_label("Tags").fill("Fun, voice")
    dialog.get_by_role("button", name="Save").click()
    saved = page.get_by_test_id("saved-prompt").filter(has_text="Pirate voice")
    expect(saved).to_contain_text("#fun")
    expect(saved).to_contain_text("#voice")
    saved.get_by_role("button", name="Share Pirate voice").click()
    expect(saved).to_contain_text("shared")
    page.get_by_label("Show").select_option("own")
    expect(saved).to_be_visible()
    _someone_else_sees_it_shared(browser, browser_stack.url, "Pirate voice")

    page.get_by_role("link", name="Chat").click()
    page.get_by_role("button", name="Chat settings").click()
    panel = page.get_by_role("complementary", name="Chat settings")
    panel.get_by_label("Prompt library").select_option(label="Pirate voice")
    expect(panel.get_by_label("System prompt")).to_have_value("You talk like a pirate, matey.")
    panel.get_by_role("button", name="Save").click()
    marker = f"Ahoy library {uuid.uuid4().hex[:6]}"
    send(page, marker)
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    body = _request_with(browser_stack, marker)
    assert body["messages"][0] == {"role": "system", "content": "You talk like a pirate, matey."}, body
