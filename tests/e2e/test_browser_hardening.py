"""What a browser is told to enforce, through the gateway's one origin: the security
headers on every page and API answer, each page's script policy naming exactly its own
inline scripts, HSTS over TLS only, and another site's page refused on the socket and on
the routes where the refresh cookie alone acts (at the gateway, and at auth itself as an
Ingress would reach it)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from parley_platform.browser_security import API_POLICY
from parley_testkit import FakeProvider, TestIssuer

from .stack import REFRESH_COOKIE, Gateway, Stack, platform
from .test_accounts import ADMIN_EMAIL, register_and_login
from .test_session_leak import Session, subject

STATIC_DIR = Path(__file__).resolve().parents[2] / "frontend" / "out"
LISTED = "https://admin.example.test"
EVIL = "https://evil.example.test"


@pytest.fixture(scope="module")
def hardened(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    if not (STATIC_DIR / "index.html").is_file():
        pytest.fail(f"{STATIC_DIR} is not built (make frontend)")
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    with platform(
        "hardening",
        stack,
        worker=False,
        auth_env={"PARLEY_ADMIN_EMAIL": ADMIN_EMAIL, "PARLEY_AUTH_ALLOWED_ORIGINS": LISTED},
        gateway_env={
            "PARLEY_GATEWAY_STATIC_DIR": str(STATIC_DIR),
            "PARLEY_GATEWAY_ALLOWED_ORIGINS": LISTED,
            # The test plays a TLS-terminating proxy on loopback.
            "PARLEY_GATEWAY_FORWARDED_ALLOW_IPS": "127.0.0.1",
        },
    ):
        yield stack


PAGES = ["/", "/login/", "/register/", "/admin/", "/no-such-page", "/api/no-such-route"]
ANSWERS = [
    ("GET", "/api/models"),
    ("GET", "/api/stats"),
    ("GET", "/api/auth/jwks.json"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/refresh"),
    ("GET", "/api/history/conversations"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
]


def _common_headers(response: httpx.Response) -> None:
    what = (response.request.method, response.request.url.path, response.status_code)
    assert response.headers["x-content-type-options"] == "nosniff", what
    assert response.headers["x-frame-options"] == "DENY", what
    assert response.headers["referrer-policy"] == "no-referrer", what
    assert len(response.headers.get_list("content-security-policy")) == 1, what
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"], what
    assert "strict-transport-security" not in response.headers, what  # plain http


def _inline_script_hashes(html: str) -> set[str]:
    bodies = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.DOTALL)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in bodies if b
    }


async def test_every_page_and_answer_carries_the_headers(hardened: Stack) -> None:
    gateway = hardened.gateways[0]
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        for path in PAGES:
            page = await http.get(path)
            assert page.headers["content-type"].startswith("text/html"), path
            _common_headers(page)
            directives = dict(d.split(" ", 1) for d in page.headers["content-security-policy"].split("; "))
            hashes = _inline_script_hashes(page.text)
            assert hashes, path  # the static export does carry inline scripts
            assert set(directives["script-src"].split()) == {"'self'", *hashes}, path
            assert directives["img-src"] == "'self' data: blob:", path
            asset = re.search(r'src="(/_next/static/[^"]+\.js)"', page.text)
            assert asset is not None, path
            script = await http.get(asset.group(1))
            assert script.status_code == 200
            _common_headers(script)
        for method, path in ANSWERS:
            answer = await http.request(method, path)
            _common_headers(answer)
            assert answer.headers["content-security-policy"] == API_POLICY, path


async def test_hsts_only_when_the_request_came_over_tls(hardened: Stack) -> None:
    gateway = hardened.gateways[0]
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        for path in ("/", "/api/models", "/api/auth/jwks.json"):
            answer = await http.get(path, headers={"X-Forwarded-Proto": "https"})
            assert answer.headers["strict-transport-security"].startswith("max-age=31536000"), path
            assert "strict-transport-security" not in (await http.get(path)).headers, path


async def _hello(gateway: Gateway, token: str, origin: str | None) -> str:
    async with websockets.connect(gateway.ws, origin=origin) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}))
        return str(json.loads(await ws.recv())["type"])


async def test_a_socket_from_another_site_is_refused(hardened: Stack) -> None:
    gateway = hardened.gateways[0]
    account = await register_and_login(gateway)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await _hello(gateway, account.access_token, EVIL)
    assert refused.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus):
        await _hello(gateway, account.access_token, "null")
    for origin in (gateway.http, LISTED, None):
        assert await _hello(gateway, account.access_token, origin) == "ready", origin


async def test_refresh_and_logout_from_another_site_are_refused(hardened: Stack) -> None:
    gateway, auth = hardened.gateways[0], hardened.auth
    assert auth is not None
    alice = Session(await register_and_login(gateway))
    cookie = {"Cookie": f"{REFRESH_COOKIE}={alice.cookie}"}
    # At the gateway, and at auth as an Ingress would reach it (the browser's Origin and Host).
    for base in (gateway.http, auth.http):
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for path in ("/api/auth/refresh", "/api/auth/logout"):
                answer = await http.post(path, headers={**cookie, "Origin": EVIL})
                assert answer.status_code == 403, (base, path, answer.text)
                assert "access_token" not in answer.text
    async with httpx.AsyncClient(base_url=gateway.http, timeout=10) as http:
        # The refused logouts ended nothing: the cookie still refreshes, from the page's own origin.
        same_site = await http.post("/api/auth/refresh", headers={**cookie, "Origin": gateway.http})
        assert same_site.status_code == 200, same_site.text
        assert subject(same_site.json()["access_token"]) == alice.account.id
