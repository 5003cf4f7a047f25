"""The API key exchange's cache: a key is checked with auth again after `cache_s`,
so a revoked key (or a disabled account's) stops working within that time."""

from __future__ import annotations

import httpx
import pytest

from parley_gateway.adapters.api_keys import ApiKeyExchange, InvalidApiKey


class Auth:
    """A fake `POST /api/auth/token`: counts exchanges; `revoked` answers 401."""

    def __init__(self) -> None:
        self.exchanges = 0
        self.revoked = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.exchanges += 1
        if self.revoked:
            return httpx.Response(401, json={"detail": "invalid API key"})
        return httpx.Response(200, json={"access_token": f"token-{self.exchanges}", "expires_in": 900})


async def test_a_revoked_key_is_refused_once_its_cached_token_is_older_than_cache_s() -> None:
    auth, now = Auth(), [0.0]
    keys = ApiKeyExchange(
        "http://auth",
        timeout_s=1,
        cache_s=60,
        clock=lambda: now[0],
        transport=httpx.MockTransport(auth.handle),
    )
    assert await keys.access_token("pk_a", client_address="c") == "token-1"
    now[0] = 59.0
    assert await keys.access_token("pk_a", client_address="c") == "token-1"
    assert auth.exchanges == 1
    auth.revoked = True
    now[0] = 61.0
    with pytest.raises(InvalidApiKey):
        await keys.access_token("pk_a", client_address="c")
    await keys.close()


async def test_a_short_lived_token_is_not_reused_past_its_expiry_margin() -> None:
    auth, now = Auth(), [0.0]

    def short(request: httpx.Request) -> httpx.Response:
        auth.exchanges += 1
        return httpx.Response(200, json={"access_token": f"t{auth.exchanges}", "expires_in": 40})

    keys = ApiKeyExchange(
        "http://auth", timeout_s=1, cache_s=60, clock=lambda: now[0], transport=httpx.MockTransport(short)
    )
    assert await keys.access_token("pk_b", client_address="c") == "t1"
    now[0] = 11.0  # 40 s less the 30 s margin
    assert await keys.access_token("pk_b", client_address="c") == "t2"
    await keys.close()


async def test_a_cookie_set_by_auth_is_never_sent_with_another_exchange() -> None:
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(
            200,
            headers={"Set-Cookie": "session=alices; Path=/"},
            json={"access_token": "t", "expires_in": 900},
        )

    keys = ApiKeyExchange("http://auth", timeout_s=1, cache_s=0, transport=httpx.MockTransport(handle))
    await keys.access_token("pk_alice", client_address="a")
    await keys.access_token("pk_bob", client_address="b")
    assert seen == [None, None]
    await keys.close()
