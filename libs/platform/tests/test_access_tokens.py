"""The cached JWKS has a maximum age: a key auth stopped publishing stops verifying, and a
set that cannot be fetched again is trusted up to a hard limit only."""

from __future__ import annotations

from typing import Any

import pytest

from parley_platform.access_tokens import JwksVerifier, SigningKeysUnavailable, TokenRejected
from parley_testkit import TestIssuer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Jwks:
    """What auth publishes: its issuers' keys, or nothing while it is down."""

    def __init__(self, *issuers: TestIssuer) -> None:
        self.issuers = list(issuers)
        self.down = False
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise ConnectionError("auth is down")
        return {"keys": [issuer.jwk() for issuer in self.issuers]}


def _verifier(jwks: Jwks, clock: Clock) -> JwksVerifier:
    return JwksVerifier(
        jwks, issuer="parley-auth", audience="parley", refetch_floor_s=30, max_age_s=300,
        max_stale_s=3600, clock=clock,
    )  # fmt: skip


def _issuer(kid: str) -> TestIssuer:
    return TestIssuer(issuer="parley-auth", audience="parley", kid=kid)


async def test_a_key_no_longer_published_stops_verifying_within_the_maximum_age() -> None:
    retired, current = _issuer("retired"), _issuer("current")
    jwks, clock = Jwks(retired, current), Clock()
    verifier = _verifier(jwks, clock)
    assert (await verifier.verify(retired.token("alice", expires_in=3600))).sub == "alice"

    jwks.issuers = [current]  # rotated out, or removed after a compromise
    clock.now += 299
    assert (await verifier.verify(retired.token("alice", expires_in=3600))).sub == "alice"  # still cached
    clock.now += 2
    with pytest.raises(TokenRejected, match="unknown key"):
        await verifier.verify(retired.token("alice", expires_in=3600))
    assert (await verifier.verify(current.token("bob", expires_in=3600))).sub == "bob"
    assert jwks.fetches == 2


async def test_a_set_that_cannot_be_fetched_again_is_trusted_up_to_the_hard_limit() -> None:
    issuer = _issuer("k1")
    jwks, clock = Jwks(issuer), Clock()
    verifier = _verifier(jwks, clock)
    await verifier.verify(issuer.token("alice", expires_in=7200))

    jwks.down = True
    clock.now += 600  # past the maximum age: the refetch fails, the old set serves on
    assert (await verifier.verify(issuer.token("alice", expires_in=7200))).sub == "alice"
    await verifier.verify(issuer.token("alice", expires_in=7200))
    assert jwks.fetches == 2  # once per floor, not per token

    clock.now += 3000  # 3600 s since the last fetch that worked: nothing is trusted
    with pytest.raises(SigningKeysUnavailable, match="no token is trusted"):
        await verifier.verify(issuer.token("alice", expires_in=7200))
    clock.now += 60
    with pytest.raises(SigningKeysUnavailable):
        await verifier.verify(issuer.token("alice", expires_in=7200))

    jwks.down = False
    clock.now += 30
    assert (await verifier.verify(issuer.token("alice", expires_in=7200))).sub == "alice"
