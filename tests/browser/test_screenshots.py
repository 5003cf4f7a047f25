"""The main screens in light and dark, at desktop and phone widths.

They go to `$PARLEY_SCREENSHOTS_DIR` when set (`docs/screenshots` for the README),
else to a temporary folder: the run still checks that every screen renders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e.stack import MODEL
from playwright.sync_api import Browser, Page, expect

from .conftest import ADMIN_EMAIL, PASSWORD, last_answer, send

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def shots_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("PARLEY_SCREENSHOTS_DIR")
    path = Path(configured) if configured else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def _login(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
    page.get_by_label("Model").select_option(MODEL)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_main_screens(
    browser: Browser, base_url: str, shots_dir: Path, scheme: str
) -> None:
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, color_scheme=scheme, is_mobile=size == "phone")  # type: ignore[arg-type]
        page = context.new_page()
        try:
            page.goto(f"{base_url}/login/")
            expect(page.get_by_role("button", name="Log in")).to_be_visible()
            page.screenshot(path=shots_dir / f"login-{scheme}-{size}.png")
            _login(page, base_url)
            send(page, "Show me a Python function and a table [md]")
            expect(last_answer(page)).to_have_attribute("data-status", "done")
            send(page, "Thanks!")
            expect(page.locator('[data-role="assistant"]')).to_have_count(2)
            expect(last_answer(page)).to_have_attribute("data-status", "done")
            page.mouse.move(0, 0)
            page.screenshot(path=shots_dir / f"chat-{scheme}-{size}.png")
            if size == "phone":
                page.get_by_role("button", name="Toggle sidebar").click()
                expect(page.get_by_role("dialog").get_by_test_id("conversation-list")).to_be_visible()
                page.screenshot(path=shots_dir / f"sidebar-{scheme}-{size}.png")
                page.keyboard.press("Escape")
            else:
                page.goto(f"{base_url}/settings/")
                expect(page.get_by_role("heading", name="Settings")).to_be_visible()
                page.screenshot(path=shots_dir / f"settings-{scheme}-{size}.png")
                page.goto(f"{base_url}/admin/")
                expect(page.get_by_role("table", name="Live workers")).to_contain_text(MODEL)
                expect(page.get_by_role("table", name="Users")).to_contain_text(ADMIN_EMAIL)
                expect(page.get_by_role("table", name="Model")).to_contain_text(MODEL)
                page.screenshot(path=shots_dir / f"admin-{scheme}-{size}.png")
        finally:
            context.close()
