"""The admin model catalogue page: an admin adds a provider (a second fake provider) and a
model in the browser, a user chats with it at once, with no restart; refusals are shown;
users other than admins do not get the page."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from parley_testkit import FakeProvider, Script

from .conftest import ADMIN_EMAIL, BrowserStack, last_answer, login_in_browser, register_in_browser, send

NEW_MODEL = "browser-second-model"
KEY = "sk-browser-0000-wxyz"


@pytest.fixture(scope="module")
def second_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        fake.set_script(Script(tokens=["Second", " provider", " here."], delay_s=0.02))
        yield fake


def _served(base_url: str) -> set[str]:
    with urllib.request.urlopen(f"{base_url}/api/models", timeout=2) as response:
        return {m["name"] for m in json.load(response)["models"]}


def _wait_served(base_url: str, name: str, wanted: bool = True, within_s: float = 3) -> None:
    deadline = time.monotonic() + within_s
    while (name in _served(base_url)) != wanted:
        assert time.monotonic() < deadline, f"{name} served={not wanted} after {within_s} s"
        time.sleep(0.05)


def _a_user_chats_with_it(browser: Browser, base_url: str, second_provider: FakeProvider) -> None:
    """A user, in another browser, picks the new model and chats with it: nothing restarted."""
    user_context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    try:
        user = user_context.new_page()
        register_in_browser(user)
        user.get_by_label("Model").select_option(NEW_MODEL)
        send(user, "Who answers?")
        expect(last_answer(user)).to_have_attribute("data-status", "done")
        expect(last_answer(user)).to_contain_text("Second provider here.")
        request = second_provider.requests[-1]
        assert request.body["model"] == "upstream-second"
        assert request.headers.get("authorization") == f"Bearer {KEY}"

        # Not for users: no link, and the page refuses.
        expect(user.get_by_role("link", name="Admin")).to_have_count(0)
        user.goto("/admin/catalog/")
        expect(user.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(user.get_by_role("table", name="Providers")).to_have_count(0)
    finally:
        user_context.close()


def test_an_admin_adds_a_model_in_the_browser_and_a_user_chats_with_it(
    page: Page, browser: Browser, browser_stack: BrowserStack, second_provider: FakeProvider
) -> None:
    login_in_browser(page, ADMIN_EMAIL)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Model catalogue").click()
    expect(page.get_by_role("heading", name="Model catalogue")).to_be_visible()
    # Seeded from the models file.
    expect(page.get_by_role("table", name="Models")).to_contain_text("test-model")

    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Provider name").fill("second")
    dialog.get_by_label("Base URL").fill(second_provider.base_url)
    dialog.get_by_label("API key").fill(KEY)
    dialog.get_by_role("button", name="Save").click()
    providers = page.get_by_role("table", name="Providers")
    expect(providers.get_by_role("row").filter(has_text="second")).to_contain_text("•••• wxyz")
    expect(providers).not_to_contain_text(KEY)

    # A taken name: the service's refusal is shown in the form, which stays open.
    page.get_by_role("button", name="Add provider").click()
    dialog.get_by_label("Provider name").fill("second")
    dialog.get_by_label("Base URL").fill(second_provider.base_url)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text(re.compile("second|exists|taken", re.I))
    dialog.get_by_role("button", name="Cancel").click()

    page.get_by_role("button", name="Add model").click()
    dialog.get_by_label("Model name").fill(NEW_MODEL)
    dialog.get_by_label("Provider").select_option(label="second")
    dialog.get_by_label("Upstream model id").fill("upstream-second")
    dialog.get_by_label("Max tokens").fill("100000")  # more than the context window: refused
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text(re.compile("context", re.I))
    dialog.get_by_label("Max tokens").fill("512")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    row = page.get_by_role("table", name="Models").get_by_role("row").filter(has_text=NEW_MODEL)
    expect(row).to_contain_text("second")
    _wait_served(browser_stack.url, NEW_MODEL)

    _a_user_chats_with_it(browser, browser_stack.url, second_provider)

    # Disabled, users can no longer pick it; then the admin removes it and its provider.
    row.get_by_label(f"Enable {NEW_MODEL}").uncheck()
    expect(row).to_contain_text("off")
    _wait_served(browser_stack.url, NEW_MODEL, wanted=False)
    page.get_by_role("button", name="Delete provider second").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("catalog-error")).to_contain_text(NEW_MODEL)  # still in use by the model
    page.get_by_role("button", name=f"Delete model {NEW_MODEL}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("table", name="Models")).not_to_contain_text(NEW_MODEL)
    page.get_by_role("button", name="Delete provider second").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(providers).not_to_contain_text("second")
