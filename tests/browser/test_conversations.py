"""The sidebar: rename, search, pin and delete conversations; the theme toggle."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import last_answer, register_in_browser, send


def _chat(page: Page, prompt: str) -> None:
    page.get_by_role("link", name="New chat").click()
    expect(page.get_by_role("heading", name="How can I help you today?")).to_be_visible()
    send(page, prompt)
    expect(last_answer(page)).to_have_attribute("data-status", "done")


def test_rename_search_and_delete_a_conversation(page: Page) -> None:
    register_in_browser(page)
    _chat(page, "Planning a trip to Lisbon")
    _chat(page, "Recipe for pancakes")
    sidebar = page.get_by_test_id("conversation-list")
    expect(sidebar.get_by_role("link")).to_have_count(2)
    expect(sidebar).to_contain_text("Today")

    # Rename through the row's menu.
    sidebar.get_by_role("button", name=re.compile("Options for Planning")).click()
    page.get_by_role("menuitem", name="Rename").click()
    title = sidebar.get_by_label("New title")
    title.fill("Lisbon itinerary")
    title.press("Enter")
    expect(sidebar.get_by_role("link", name="Lisbon itinerary")).to_be_visible()
    page.reload()
    expect(
        page.get_by_test_id("conversation-list").get_by_role("link", name="Lisbon itinerary")
    ).to_be_visible()

    # Search finds message text, not only titles.
    search = page.get_by_label("Search conversations")
    search.fill("pancakes")
    expect(sidebar.get_by_role("link")).to_have_count(1)
    expect(sidebar.get_by_role("link")).to_contain_text("Recipe for pancakes")
    search.fill("")
    expect(sidebar.get_by_role("link")).to_have_count(2)

    # Pin moves it to the top group.
    sidebar.get_by_role("button", name=re.compile("Options for Recipe")).click()
    page.get_by_role("menuitem", name="Pin").click()
    expect(sidebar.locator("section").first).to_contain_text("Pinned")
    expect(sidebar.locator("section").first).to_contain_text("Recipe for pancakes")

    # Delete asks first; the open conversation goes away and the page returns to a new chat.
    sidebar.get_by_role("link", name="Lisbon itinerary").click()
    expect(page.locator('[data-role="user"]').first).to_contain_text("Planning a trip to Lisbon")
    sidebar.get_by_role("button", name=re.compile("Options for Lisbon")).click()
    page.get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete this chat?")
    dialog.get_by_role("button", name="Delete").click()
    expect(sidebar.get_by_role("link")).to_have_count(1)
    expect(page.get_by_role("heading", name="How can I help you today?")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("conversation-list").get_by_role("link")).to_have_count(1)


def test_opening_a_conversation_from_the_sidebar_shows_its_messages(page: Page) -> None:
    register_in_browser(page)
    _chat(page, "First topic")
    _chat(page, "Second topic")
    page.get_by_test_id("conversation-list").get_by_role("link", name="First topic").click()
    expect(page.locator('[data-role="user"]')).to_have_count(1)
    expect(page.locator('[data-role="user"]')).to_contain_text("First topic")
    expect(last_answer(page)).to_contain_text("Hello from the fake provider.")
    expect(last_answer(page).get_by_test_id("figures")).to_contain_text("tok/s")


def test_theme_toggle_cycles_light_dark_system_and_is_remembered(page: Page) -> None:
    register_in_browser(page)
    html = page.locator("html")
    toggle = page.get_by_test_id("theme-toggle").first
    toggle.click()  # system -> light
    expect(html).not_to_have_class(re.compile(r"\bdark\b"))
    toggle.click()  # light -> dark
    expect(html).to_have_class(re.compile(r"\bdark\b"))
    page.reload()
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.get_by_test_id("theme-toggle").first.click()  # dark -> system (light in this context)
    expect(page.locator("html")).not_to_have_class(re.compile(r"\bdark\b"))
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))


def test_export_a_conversation_as_markdown(page: Page) -> None:
    register_in_browser(page)
    _chat(page, "Export me please")
    sidebar = page.get_by_test_id("conversation-list")
    sidebar.get_by_role("button", name=re.compile("Options for Export me")).click()
    with page.expect_download() as download_info:
        page.get_by_role("menuitem", name="Export Markdown").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".md"), download.suggested_filename
    text = Path(download.path()).read_text()
    assert "Export me please" in text, text
    assert "Hello from the fake provider." in text, text
