"""A failed answer shows its error and retries; admin pages are for admins only; settings and API keys."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import ADMIN_EMAIL, PASSWORD, last_answer, log_out, login_in_browser, register_in_browser, send


def test_a_provider_failure_shows_an_error_and_retry_answers(page: Page) -> None:
    register_in_browser(page)
    send(page, "This one breaks first [fail-once]")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "failed")
    alert = answer.get_by_role("alert")
    expect(alert).to_be_visible()
    assert "Traceback" not in alert.inner_text()
    alert.get_by_role("button", name="Retry").click()
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(last_answer(page)).to_contain_text("Hello from the fake provider.")


def test_a_model_nobody_can_reach_shows_a_clear_error(page: Page) -> None:
    register_in_browser(page)
    page.get_by_label("Model").select_option("refused-model")
    send(page, "Anyone there?")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "failed")
    expect(answer.get_by_role("alert")).to_contain_text(re.compile("cannot be reached|unavailable", re.I))


def test_admin_pages_are_for_admins_only(page: Page) -> None:
    email = register_in_browser(page)
    send(page, "Something for the statistics")
    expect(last_answer(page)).to_have_attribute("data-status", "done")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("table", name="Users")).to_have_count(0)

    page.get_by_role("link", name="Back to chat").click()
    log_out(page)
    login_in_browser(page, ADMIN_EMAIL)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    # The statistics: live workers and queues, latency percentiles, usage per day, model and user.
    expect(page.get_by_role("table", name="Live workers")).to_contain_text("test-model")
    expect(page.get_by_role("table", name="Queue depth")).to_contain_text("test-model")
    expect(page.get_by_test_id("figure-generations-in-flight")).to_be_visible()
    latency = page.get_by_role("table", name="Latency")
    expect(latency.get_by_role("row").filter(has_text="test-model")).to_contain_text(re.compile(r"\d+ ms"))
    expect(page.get_by_role("img", name="Tokens per day")).to_be_visible()
    expect(page.get_by_role("img", name="Cost per day")).to_be_visible()
    expect(page.get_by_role("table", name="Model")).to_contain_text("test-model")
    expect(page.get_by_role("table", name="User", exact=True)).to_contain_text(email)
    users = page.get_by_role("table", name="Users")
    expect(users).to_contain_text(ADMIN_EMAIL)
    page.get_by_label("Search users").fill("admin@")
    expect(users.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("table", name="Model")).to_be_visible()

    # The admin disables the user, and that user can no longer log in.
    page.get_by_label("Search users").fill(email)
    expect(users.locator("tbody tr")).to_have_count(1)
    users.get_by_role("button", name=f"Disable {email}").click()
    expect(users).to_contain_text("disabled")
    page.get_by_role("link", name="Chat").click()
    log_out(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("form [role=alert]")).to_contain_text(re.compile("disabled", re.I))


def test_settings_save_preferences_and_api_keys_show_once(page: Page) -> None:
    register_in_browser(page)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Name", exact=True).fill("Renamed Person")
    page.get_by_label("Default system prompt").fill("Answer briefly.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Renamed Person")
    expect(page.get_by_label("Default system prompt")).to_have_value("Answer briefly.")

    new_key = page.get_by_role("form", name="New API key")
    new_key.get_by_label("Key name").fill("ci")
    new_key.get_by_label("Current password").fill(PASSWORD)
    new_key.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-key")
    expect(key).not_to_be_empty()
    table = page.locator("table")
    expect(table).to_contain_text("ci")
    page.reload()
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    page.get_by_role("button", name="Revoke ci").click()
    expect(page.locator("table")).to_contain_text("No API keys.")
