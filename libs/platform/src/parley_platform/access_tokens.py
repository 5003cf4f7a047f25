"""Access tokens as every verifier of Parley checks them: asymmetric JWTs with a
`kid`, signed by a key of the auth service's JWKS (fetched over HTTP, cached,
refetched on an unknown `kid` at most once per floor), with `exp`, `iss`,
`aud` and `sub`. Services map the two errors here to their own transport
errors at the edge.

The cached key set lives `max_age_s`: older, it is fetched again before the
next check, so that a key auth no longer publishes (retired by `rotate-key`,
removed after a compromise) stops verifying within that time. While auth
cannot be reached the old set is kept, but never past `max_stale_s`: then no
token verifies (`SigningKeysUnavailable`) rather than one trusted for ever."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

ALGORITHMS = frozenset({"EdDSA", "RS256"})
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]

JwksSource = Callable[[], Awaitable[dict[str, Any]]]
Clock = Callable[[], float]


class TokenRejected(Exception):
    """The token is not acceptable; `expired` tells an expired one apart."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class SigningKeysUnavailable(Exception):
    """The JWKS could not be fetched, so an unknown `kid`, or any token once the cached set
    is older than its hard limit, cannot be judged now."""


@dataclass(frozen=True)
class AccessClaims:
    sub: str
    role: str
    exp: float
    iat: float | None = None
    """When the token was issued (whole seconds); None when it has no `iat`."""
    sid: str | None = None
    """The session (sign-in) the token belongs to; None for a token from an API key."""


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


def jwks_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document, by `kid`."""
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


class RefetchPolicy:
    """When to fetch the JWKS again: always the first time, then on an unknown
    `kid` at most once per `floor_s` (a flood of made-up kids cannot hammer
    the auth service)."""

    def __init__(self, floor_s: float, *, clock: Clock) -> None:
        self._floor_s = floor_s
        self._clock = clock
        self._last: float | None = None

    def may_fetch(self) -> bool:
        return self._last is None or self._clock() - self._last >= self._floor_s

    def fetched(self) -> None:
        self._last = self._clock()


class JwksVerifier:
    """Checks an access token's signature (by `kid`) and claims."""

    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 0.0,
        refetch_floor_s: float = 30.0,
        max_age_s: float = 300.0,
        max_stale_s: float = 3600.0,
        clock: Clock = time.monotonic,
    ) -> None:
        """`max_age_s`: a key set older than this is fetched again before use; `max_stale_s`:
        while fetching fails, the old set is trusted until it is this old, then nothing is."""
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._policy = RefetchPolicy(refetch_floor_s, clock=clock)
        self._max_age_s = max_age_s
        self._max_stale_s = max(max_stale_s, max_age_s)
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        """When the set in `_keys` was fetched (successfully)."""
        self._lock = asyncio.Lock()

    async def refresh(self) -> bool:
        """Fetch the JWKS now if the floor allows; False when that failed."""
        async with self._lock:
            return await self._fetch()

    async def verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"malformed token: {exc}") from exc
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("the token has no 'kid'")
        if alg not in ALGORITHMS:
            raise TokenRejected(f"token algorithm {alg!r} is not accepted")
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
            raise TokenRejected("the token has expired", expired=True) from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"token rejected: {exc}") from exc
        sub, exp, role, iat = (claims.get(k) for k in ("sub", "exp", "role", "iat"))
        if not isinstance(exp, int | float):
            raise TokenRejected("the token's 'exp' must be a number")
        if not isinstance(sub, str) or not sub:
            raise TokenRejected("the token's 'sub' must be a non-empty string")
        return AccessClaims(
            sub=sub,
            role=role if isinstance(role, str) else "user",
            exp=float(exp),
            iat=float(iat) if isinstance(iat, int | float) else None,
            sid=sid if isinstance(sid := claims.get("sid"), str) else None,
        )

    def _age(self) -> float | None:
        return None if self._fetched_at is None else self._clock() - self._fetched_at

    async def _fresh_keys(self) -> None:
        """Fetch a set older than `max_age_s` again (as often as the floor allows); refuse a
        set older than `max_stale_s` that could not be fetched again."""
        age = self._age()
        if age is None or age < self._max_age_s:
            return
        if age < self._max_stale_s and not self._policy.may_fetch():
            return  # auth was asked lately: verify with the set kept, no lock to wait on
        async with self._lock:
            age = self._age()
            if age is not None and age >= self._max_age_s and self._policy.may_fetch():
                await self._fetch()
            age = self._age()
            if age is not None and age >= self._max_stale_s:
                raise SigningKeysUnavailable(
                    f"the signing keys could not be fetched again for {age:.0f} s: "
                    "no token is trusted until they are"
                )

    async def _key(self, kid: str) -> jwt.PyJWK:
        await self._fresh_keys()
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)  # another caller may have fetched meanwhile
            if key is None and self._policy.may_fetch():
                if not await self._fetch():
                    raise SigningKeysUnavailable("the signing keys cannot be fetched right now")
                key = self._keys.get(kid)
        if key is None:
            raise TokenRejected("the token is signed by an unknown key")
        return key

    async def _fetch(self) -> bool:
        if not self._policy.may_fetch():
            return True
        self._policy.fetched()
        try:
            document = await self._source()
        except Exception as exc:
            age = self._age()
            log.warning("JWKS fetch failed: %s: %s%s", type(exc).__name__, exc,
                        "" if age is None else f" (keeping the set fetched {age:.0f} s ago)")  # fmt: skip
            return False
        self._keys = jwks_keys(document)
        self._fetched_at = self._clock()
        log.info("JWKS fetched: %d usable key(s) %s", len(self._keys), sorted(self._keys))
        return True
