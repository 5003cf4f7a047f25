"""Access tokens: asymmetric JWTs with a `kid`, checked locally against the
auth service's JWKS (fetched over HTTP and cached)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt

from parley_gateway.domain.auth import Principal, RefetchPolicy
from parley_gateway.domain.clock import Clock
from parley_gateway.domain.errors import CloseCode, ErrorCode, GatewayError

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"EdDSA", "RS256"})
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]

JwksSource = Callable[[], Awaitable[dict[str, Any]]]


def _invalid(message: str) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_TOKEN, message, close=CloseCode.UNAUTHORIZED)


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


def _keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for data in document.get("keys") or ():
        if not isinstance(data, dict) or not isinstance(data.get("kid"), str):
            continue
        if data.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(data)
        except jwt.PyJWTError as exc:
            log.warning("ignoring JWKS key %r: %s", data.get("kid"), exc)
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[data["kid"]] = key
    return keys


class JwksTokenVerifier:
    """`TokenVerifier`: signature by a JWKS key (by `kid`), `exp`, `iss`, `aud`, `sub`."""

    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float,
        refetch_floor_s: float,
        clock: Clock,
    ) -> None:
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._policy = RefetchPolicy(refetch_floor_s, clock=clock)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> bool:
        """Fetch the JWKS now if the floor allows; False when that failed."""
        async with self._lock:
            return await self._fetch()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _invalid(f"malformed token: {exc}") from exc
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise _invalid("the token has no 'kid'")
        if alg not in ALGORITHMS:
            raise _invalid(f"token algorithm {alg!r} is not accepted")
        key = await self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise GatewayError(
                ErrorCode.TOKEN_EXPIRED, "the token has expired", close=CloseCode.UNAUTHORIZED
            ) from exc
        except jwt.PyJWTError as exc:
            raise _invalid(f"token rejected: {exc}") from exc
        sub, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(exp, int | float):
            raise _invalid("the token's 'exp' must be a number")
        if not isinstance(sub, str) or not sub:
            raise _invalid("the token's 'sub' must be a non-empty string")
        role = claims.get("role")
        return Principal(user_id=sub, role=role if isinstance(role, str) else "user", expires_at=float(exp))

    async def _key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)  # another socket may have fetched meanwhile
            if key is None and self._policy.may_fetch():
                if not await self._fetch():
                    raise GatewayError(
                        ErrorCode.AUTH_UNAVAILABLE,
                        "the signing keys cannot be fetched right now; try again",
                        close=CloseCode.TRY_AGAIN_LATER,
                    )
                key = self._keys.get(kid)
        if key is None:
            raise _invalid("the token is signed by an unknown key")
        return key

    async def _fetch(self) -> bool:
        if not self._policy.may_fetch():
            return True
        self._policy.fetched()
        try:
            document = await self._source()
        except Exception as exc:
            log.warning("JWKS fetch failed: %s: %s", type(exc).__name__, exc)
            return False
        self._keys = _keys(document)
        log.info("JWKS fetched: %d usable key(s) %s", len(self._keys), sorted(self._keys))
        return True
