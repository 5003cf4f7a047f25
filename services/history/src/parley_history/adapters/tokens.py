"""Access tokens: asymmetric JWTs with a `kid`, checked locally against the auth
service's JWKS (fetched over HTTP, cached, refetched on an unknown kid at most
once per floor)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from parley_history.domain.errors import NotAuthenticated, StoreUnavailable

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"EdDSA", "RS256", "ES256"})
JwksSource = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str


def http_jwks(url: str, *, timeout_s: float) -> JwksSource:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")
        return document

    return fetch


class JwksTokenVerifier:
    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 0.0,
        refetch_floor_s: float = 30.0,
    ) -> None:
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._floor_s = refetch_floor_s
        self._last_fetch: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"malformed token: {exc}") from exc
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise NotAuthenticated("the token has no 'kid'")
        if alg not in ALGORITHMS:
            raise NotAuthenticated(f"token algorithm {alg!r} is not accepted")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise NotAuthenticated("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token rejected: {exc}") from exc
        sub, role = claims.get("sub"), claims.get("role")
        if not isinstance(sub, str) or not sub:
            raise NotAuthenticated("the token's 'sub' must be a non-empty string")
        return Principal(user_id=sub, role=role if isinstance(role, str) else "user")

    async def _key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            now = time.monotonic()
            if key is None and (self._last_fetch is None or now - self._last_fetch >= self._floor_s):
                self._last_fetch = now
                try:
                    self._keys = _keys(await self._source())
                except Exception as exc:
                    log.warning("JWKS fetch failed: %s: %s", type(exc).__name__, exc)
                    raise StoreUnavailable("the signing keys cannot be fetched right now") from exc
                key = self._keys.get(kid)
        if key is None:
            raise NotAuthenticated("the token is signed by an unknown key")
        return key


def _keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for data in document.get("keys") or ():
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("kid"), str)
            or data.get("use", "sig") != "sig"
        ):
            continue
        try:
            key = jwt.PyJWK(data)
        except jwt.PyJWTError as exc:
            log.warning("ignoring JWKS key %r: %s", data.get("kid"), exc)
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[data["kid"]] = key
    return keys
