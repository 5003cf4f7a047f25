"""`/login/?next=...` brings the user back to a page of Parley, never to another site: not
with a backslash, a tab or two slashes in `next`, neither after the form nor at once when
the user is already logged in. Requests to any other origin are stopped inside the browser
(and the hosts are under `.invalid`), so that a failing check contacts nobody."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from .conftest import PASSWORD, log_out, register_in_browser

# As they stand in the address (percent-encoded): `/\host`, `//host`, `<tab>/host`, `/<tab>/host`, `/./`.
HOSTILE_NEXT = [
    "/%5Cevil.invalid",
    "//evil.invalid",
    "%09/evil.invalid",
    "/%09/evil.invalid",
    "/.//evil.invalid",
]


def _stay_on(page: Page, base_url: str) -> list[str]:
    """Stops (and records) every request of the page's context to an origin other than `base_url`'s."""
    origin = urlsplit(base_url)
    elsewhere: list[str] = []

    def handle(route: Route) -> None:
        url = urlsplit(route.request.url)
        if (url.scheme, url.netloc) == (origin.scheme, origin.netloc):
            route.fallback()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", handle)
    return elsewhere


def test_next_never_leads_off_site(page: Page, base_url: str) -> None:
    elsewhere = _stay_on(page, base_url)
    email = register_in_browser(page)
    chat = re.compile(re.escape(base_url) + r"/c/$")

    # Already logged in: the login page forwards at once.
    for hostile in HOSTILE_NEXT:
        page.goto(f"/login/?next={hostile}")
        expect(page, f"next={hostile}").to_have_url(chat)
        assert elsewhere == [], (hostile, elsewhere)

    # Through the form.
    log_out(page)
    for hostile in HOSTILE_NEXT:
        page.goto(f"/login/?next={hostile}")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page, f"next={hostile}").to_have_url(chat)
        expect(page.get_by_role("heading", name="How can I help you today?")).to_be_visible()
        assert elsewhere == [], (hostile, elsewhere)
        log_out(page)


def test_next_of_this_origin_is_followed(page: Page, base_url: str) -> None:
    elsewhere = _stay_on(page, base_url)
    email = register_in_browser(page)
    log_out(page)
    page.goto("/login/?next=/settings/%3Ftab%3Dkeys")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/settings/?tab=keys")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    assert elsewhere == []
