"""What asks for the current password (a new API key, a new password) says so when it is
wrong, and the user stays logged in: the 401 is the password's, not the session's."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import PASSWORD, register_in_browser


def test_a_new_api_key_needs_the_current_password(page: Page) -> None:
    register_in_browser(page)
    page.get_by_role("link", name="Settings").click()
    new_key = page.get_by_role("form", name="New API key")
    expect(new_key.get_by_label("Current password")).to_have_attribute("type", "password")
    expect(new_key.get_by_label("Current password")).to_have_attribute("autocomplete", "current-password")

    new_key.get_by_label("Key name").fill("stolen-session")
    new_key.get_by_label("Current password").fill("not my password")
    new_key.get_by_role("button", name="Create key").click()
    # The service's own message (Next's route announcer is an alert too: not that one).
    said = page.get_by_role("alert").filter(has_text=re.compile("password", re.I))
    expect(said).to_be_visible()
    expect(page.get_by_text("session has ended")).to_have_count(0)
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    expect(page.locator("table")).to_contain_text("No API keys.")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()  # still logged in

    new_key.get_by_label("Current password").fill(PASSWORD)
    new_key.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-key")).not_to_be_empty()
    expect(page.locator("table")).to_contain_text("stolen-session")
    expect(new_key.get_by_label("Current password")).to_have_value("")
    expect(said).to_have_count(0)


def test_a_wrong_current_password_is_said_and_the_session_stays(page: Page) -> None:
    register_in_browser(page)
    page.get_by_role("link", name="Settings").click()
    change = page.get_by_role("form", name="Change password")
    change.get_by_label("Current password").fill("not my password")
    change.get_by_label("New password").fill("a brand new passphrase")
    change.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status").filter(has_text=re.compile("password", re.I))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/settings/$"))
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
