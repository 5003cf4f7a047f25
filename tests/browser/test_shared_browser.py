"""A browser several people use in turn: what one person left in it (a draft, the model
they picked, the chat socket's session) is gone once they log out, and the next person
to log in finds none of it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from .conftest import log_out, register_in_browser

DRAFT = "A's unsent draft about the merger"
_STORAGE = """() => ({
    local: Object.fromEntries(Object.entries(localStorage)),
    session: Object.fromEntries(Object.entries(sessionStorage)),
})"""


def _storage(page: Page) -> dict[str, dict[str, Any]]:
    stored: dict[str, dict[str, Any]] = page.evaluate(_STORAGE)
    return stored


def test_the_next_person_finds_nothing_of_the_last(page: Page) -> None:
    register_in_browser(page)
    box = page.get_by_label("Message", exact=True)
    box.fill(DRAFT)
    page.reload()
    expect(page.get_by_label("Message", exact=True)).to_have_value(DRAFT)  # kept for A meanwhile
    a_stored = _storage(page)
    a_keys = {
        key for area in a_stored.values() for key in area if key not in ("parley.theme", "parley.sidebar")
    }
    assert any(DRAFT in value for value in a_stored["local"].values()), a_stored

    log_out(page)
    after = _storage(page)
    assert not a_keys & {key for area in after.values() for key in area}, after
    assert DRAFT not in str(after), after

    register_in_browser(page)  # B, in the same browser profile
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    b_stored = _storage(page)
    assert not a_keys & {key for area in b_stored.values() for key in area}, b_stored
    assert DRAFT not in str(b_stored), b_stored
