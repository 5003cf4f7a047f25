"""Parley API keys for the OpenAI-compatible API: exchanged with the auth
service (`POST /api/auth/token`) for an access token, which the gateway then
verifies like any other. Tokens are cached by the key's hash for at most
`cache_s` (and never past shortly before they expire): a revoked key, or the key
of a disabled account, stops working within that time, while a busy client
costs one exchange per `cache_s`."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

import httpx

from parley_gateway.adapters.http import stateless_client

_MARGIN_S = 30.0
_CACHE_SIZE = 10_000


class InvalidApiKey(Exception):
    """Auth refused the key (unknown, revoked, or its user is disabled)."""


class ApiKeysThrottled(Exception):
    """Auth refuses exchanges from this address for now (too many failures)."""


class AuthUnreachable(Exception):
    """No auth service configured, or it did not answer."""


class ApiKeyExchange:
    def __init__(
        self,
        auth_url: str | None,
        *,
        timeout_s: float,
        cache_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._auth_url = auth_url
        self._timeout = httpx.Timeout(timeout_s)
        self._cache_s = cache_s
        self._clock = clock
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def access_token(self, api_key: str, *, client_address: str) -> str:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._tokens.get(digest)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        token, expires_in = await self._exchange(api_key, client_address)
        lifetime = min(max(expires_in - _MARGIN_S, 0.0), self._cache_s)
        self._tokens[digest] = (token, self._clock() + lifetime)
        self._tokens.move_to_end(digest)
        while len(self._tokens) > _CACHE_SIZE:
            self._tokens.popitem(last=False)
        return token

    def forget(self, api_key: str) -> None:
        """Drop a cached token (the gateway refused it: revoked or expired early)."""
        self._tokens.pop(hashlib.sha256(api_key.encode()).hexdigest(), None)

    async def _exchange(self, api_key: str, client_address: str) -> tuple[str, float]:
        if self._auth_url is None:
            raise AuthUnreachable("no auth service is configured (PARLEY_GATEWAY_AUTH_URL)")
        if self._client is None:
            self._client = stateless_client(timeout=self._timeout, transport=self._transport)
        try:
            response = await self._client.post(
                f"{self._auth_url}/api/auth/token",
                json={"api_key": api_key},
                # Auth throttles failed exchanges per address: the API client's, not the gateway's.
                headers={"X-Forwarded-For": client_address},
            )
        except httpx.HTTPError as exc:
            raise AuthUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403):
            raise InvalidApiKey
        if response.status_code == 429:
            raise ApiKeysThrottled
        if response.status_code != 200:
            raise AuthUnreachable(f"the auth service answered HTTP {response.status_code}")
        body = response.json()
        return str(body["access_token"]), float(body["expires_in"])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
