"""`/api/auth/*` and `/api/history/*` through the gateway, the services faked at
the HTTP layer (httpx.MockTransport), the gateway app driven in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from parley_gateway import Settings, create_app
from parley_gateway.adapters.upstream import Upstreams
from parley_gateway.bootstrap import bootstrap

CLIENT = ("203.0.113.7", 50123)
Handler = Callable[[httpx.Request], httpx.Response]


class Upstream:
    """The services behind the gateway: the requests they got, the answer they give."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answer: Handler = lambda request: httpx.Response(200, json={"ok": True})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


async def client_for(settings: Settings, upstream: Upstream) -> httpx.AsyncClient:
    upstreams = Upstreams(
        auth_url=settings.auth_url,
        history_url=settings.history_url,
        connect_timeout_s=1,
        read_timeout_s=1,
        transport=httpx.MockTransport(upstream),
    )
    app = create_app(settings, gateway=bootstrap(settings, upstreams=upstreams))
    transport = httpx.ASGITransport(app=app, client=CLIENT)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


@pytest.fixture
async def http(upstream: Upstream) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        jwks_url="http://auth.internal/api/auth/jwks.json",
        auth_url="http://auth.internal:8001/",
        history_url="http://history.internal:8002",
    )
    async with await client_for(settings, upstream) as client:
        yield client


async def test_a_request_reaches_the_service_with_what_it_needs(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await http.post(
        "/api/auth/login?next=%2Fchat&x=1",
        json={"email": "a@example.com", "password": "pw"},
        headers={
            "Authorization": "Bearer abc",
            "Cookie": "parley_refresh=r1; other=2",
            "X-Forwarded-For": "10.9.9.9",  # a client's claim: replaced, never passed on
            "X-Internal-Secret": "nope",
            "Accept-Encoding": "gzip",
        },
    )
    assert response.status_code == 200
    [request] = upstream.requests
    assert request.method == "POST"
    assert str(request.url) == "http://auth.internal:8001/api/auth/login?next=%2Fchat&x=1"
    assert request.content == b'{"email":"a@example.com","password":"pw"}'
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["cookie"] == "parley_refresh=r1; other=2"
    assert request.headers["content-type"] == "application/json"
    assert request.headers.get_list("x-forwarded-for") == [CLIENT[0]]
    assert request.headers["accept-encoding"] == "identity"
    assert "x-internal-secret" not in request.headers


async def test_the_answer_comes_back_with_its_status_cookies_and_headers(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.answer = lambda request: httpx.Response(
        429,
        headers=[
            ("Content-Type", "application/json"),
            ("Set-Cookie", "parley_refresh=new; HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh"),
            ("Set-Cookie", "other=gone; Max-Age=0; Path=/"),
            ("Retry-After", "42"),
            ("WWW-Authenticate", 'Bearer error="invalid_token"'),
            ("Cache-Control", "no-store"),
            ("Allow", "GET, POST"),
            ("X-Upstream-Internal", "secret"),
        ],
        content=b'{"detail": "too many attempts"}',
    )
    response = await http.post("/api/auth/login", json={})
    assert response.status_code == 429
    assert response.json() == {"detail": "too many attempts"}
    assert response.headers.get_list("set-cookie") == [
        "parley_refresh=new; HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh",
        "other=gone; Max-Age=0; Path=/",
    ]
    assert response.headers["retry-after"] == "42"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/json"
    assert "x-upstream-internal" not in response.headers


async def test_no_cookie_of_one_caller_reaches_the_service_for_another(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    """The proxy keeps no cookie jar: a refresh cookie set for Alice is never sent for a caller
    who brings none (on the old shared client, an anonymous refresh became Alice's)."""
    upstream.answer = lambda request: httpx.Response(
        200,
        headers=[("Set-Cookie", "parley_refresh=alices; HttpOnly; SameSite=Strict; Path=/api/auth/refresh")],
        json={"access_token": "alice"},
    )
    alice = await http.post("/api/auth/login", json={}, headers={"Cookie": "parley_refresh=old"})
    assert alice.headers["set-cookie"].startswith("parley_refresh=alices")
    http.cookies.clear()  # the stranger: another client, no cookie at all
    for path in ("/api/auth/refresh", "/api/auth/logout", "/api/history/conversations"):
        await http.post(path)
    assert [r.headers.get("cookie") for r in upstream.requests] == ["parley_refresh=old", None, None, None]


async def test_every_method_and_history_routes_to_history(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.answer = lambda request: httpx.Response(204)
    for method in ("GET", "PATCH", "DELETE", "PUT"):
        response = await http.request(method, "/api/history/conversations/c1", content=b"{}")
        assert response.status_code == 204
        assert response.content == b""
    assert [(r.method, r.url.host, r.url.path) for r in upstream.requests] == [
        (m, "history.internal", "/api/history/conversations/c1") for m in ("GET", "PATCH", "DELETE", "PUT")
    ]


async def test_redirects_are_passed_back_not_followed(http: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.answer = lambda request: httpx.Response(307, headers={"Location": "http://elsewhere/x"})
    response = await http.get("/api/auth/me")
    assert (response.status_code, response.headers["location"]) == (307, "http://elsewhere/x")
    assert len(upstream.requests) == 1


async def test_a_service_that_does_not_answer_is_a_502(http: httpx.AsyncClient, upstream: Upstream) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    upstream.answer = refuse
    response = await http.get("/api/history/conversations")
    assert response.status_code == 502
    assert "history" in response.json()["detail"]


async def test_a_service_not_configured_is_a_503(upstream: Upstream) -> None:
    settings = Settings(jwks_url="http://auth.internal/api/auth/jwks.json")
    async with await client_for(settings, upstream) as http:
        auth = await http.post("/api/auth/login", json={})
        history = await http.get("/api/history/conversations")
    assert (auth.status_code, history.status_code) == (503, 503)
    assert auth.json() == {"detail": "the auth service is not configured (PARLEY_GATEWAY_AUTH_URL)"}
    assert "PARLEY_GATEWAY_HISTORY_URL" in history.json()["detail"]
    assert upstream.requests == []


async def test_an_oversized_body_is_refused_before_the_service(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await http.post("/api/auth/register", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert upstream.requests == []


async def test_the_path_passes_as_encoded_and_never_leaves_the_prefix(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    assert (await http.get("/api/history/conversations/a%2Fb")).status_code == 200
    assert upstream.requests[0].url.raw_path == b"/api/history/conversations/a%2Fb"
    # (Plain `..` never leaves an HTTP client; encoded dots do, and the server decodes them.)
    for path in ("/api/auth/%2e%2e/%2e%2e/metrics", "/api/auth/%2E/jwks.json", "/api/history/%2e%2e/x"):
        response = await http.get(path)
        assert response.status_code == 404, path
    assert len(upstream.requests) == 1


async def test_a_closed_kept_alive_connection_is_retried_once_for_safe_methods(
    http: httpx.AsyncClient, upstream: Upstream
) -> None:
    dropped: list[str] = []

    def first_dropped(request: httpx.Request) -> httpx.Response:
        if request.method not in dropped:
            dropped.append(request.method)
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"ok": True})

    upstream.answer = first_dropped
    assert (await http.get("/api/history/conversations")).status_code == 200
    assert (await http.delete("/api/history/conversations/c1")).status_code == 200
    # A POST may have been acted on: not sent twice; the client hears the service is unreachable.
    assert (await http.post("/api/auth/login", json={})).status_code == 502
    assert [r.method for r in upstream.requests] == ["GET", "GET", "DELETE", "DELETE", "POST"]


async def test_a_safe_request_dropped_twice_is_a_502(http: httpx.AsyncClient, upstream: Upstream) -> None:
    def always_dropped(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    upstream.answer = always_dropped
    assert (await http.get("/api/history/conversations")).status_code == 502
    assert len(upstream.requests) == 2
