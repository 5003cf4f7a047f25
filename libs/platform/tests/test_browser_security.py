"""The browser-facing rules shared by the HTTP services: which origins may use the
cookie and the socket, the page policy's script hashes, the headers on every answer."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from parley_platform.browser_security import API_POLICY, OriginPolicy, SecurityHeaders, page_policy


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "chat.example.com", True),  # not a browser: the CLI, an SDK, curl
        ("https://chat.example.com", "chat.example.com", True),
        ("https://chat.example.com:443", "chat.example.com", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("HTTP://LOCALHOST:8000", "localhost:8000", True),
        ("https://evil.example", "chat.example.com", False),
        ("https://chat.example.com.evil.example", "chat.example.com", False),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),  # another port is another origin
        ("null", "chat.example.com", False),  # a sandboxed frame or a file
        ("https://chat.example.com", None, False),
        ("javascript://chat.example.com", "chat.example.com", False),
        ("https://chat.example.com:notaport", "chat.example.com", False),
        ("https://admin.example.com", "chat.example.com", True),  # listed below
        ("https://admin.example.com/", "chat.example.com", True),
    ],
)
def test_an_origin_is_allowed_when_it_is_the_host_or_listed(
    origin: str | None, host: str | None, allowed: bool
) -> None:
    policy = OriginPolicy.parse("https://admin.example.com, ,http://other.test:8080")
    assert policy.allows(origin, host) is allowed


def test_a_request_is_judged_by_its_origin_and_host_headers() -> None:
    policy = OriginPolicy()
    assert policy.admits({"host": "chat.example.com", "origin": "https://chat.example.com"})
    assert policy.admits({"host": "chat.example.com"})
    assert not policy.admits({"host": "chat.example.com", "origin": "https://evil.example"})


def test_no_origin_is_listed_by_default() -> None:
    assert OriginPolicy.parse("").allowed == frozenset()
    assert not OriginPolicy().allows("https://admin.example.com", "chat.example.com")


def test_a_page_policy_names_each_inline_script_by_hash_and_no_external_one() -> None:
    html = (
        b"<html><head><script>document.title='a'</script>"
        b'<script src="/_next/static/app.js" async=""></script>'
        b"<script id=x>self.__next_f.push([1])</script><script></script></head></html>"
    )
    policy = page_policy(html)
    expected = {
        base64.b64encode(hashlib.sha256(body).digest()).decode()
        for body in (b"document.title='a'", b"self.__next_f.push([1])")
    }
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert set(script_src.split()) == {"script-src", "'self'", *(f"'sha256-{h}'" for h in expected)}
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in script_src
    assert "unsafe-eval" not in policy


async def _answer(app: FastAPI, url: str, **headers: str) -> httpx.Response:
    wrapped = SecurityHeaders(app, hsts_max_age_s=600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url=url) as client:
        return await client.get("/page" if "page" in headers.pop("path", "") else "/json", headers=headers)


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/json")
    async def json() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    return app


async def test_every_answer_gets_the_headers_and_keeps_its_own_policy() -> None:
    app = _app()
    plain = await _answer(app, "http://chat.test")
    assert plain.headers["content-security-policy"] == API_POLICY
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert plain.headers["x-frame-options"] == "DENY"
    assert plain.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in plain.headers  # not over TLS
    page = await _answer(app, "https://chat.test", path="page")
    assert page.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert page.headers["strict-transport-security"] == "max-age=600; includeSubDomains"
