from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

from parley_testkit import FakeProvider, TestIssuer


def _verify(token: str, jwks_url: str, issuer: TestIssuer) -> dict[str, Any]:
    signing_key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key,
        algorithms=["EdDSA"],
        audience=issuer.audience,
        issuer=issuer.issuer,
    )
    return claims


async def test_tokens_verify_against_the_served_jwks(provider: FakeProvider, issuer: TestIssuer) -> None:
    token = issuer.token("user-1", role="admin", extra={"plan": "pro"})

    # PyJWKClient does blocking I/O; keep it off the test's event loop.
    claims = await asyncio.to_thread(_verify, token, provider.jwks_url, issuer)

    assert claims["sub"] == "user-1"
    assert claims["role"] == "admin"
    assert claims["plan"] == "pro"
    assert claims["iss"] == "parley-test"
    assert claims["aud"] == "parley"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid


def test_jwks_shape(issuer: TestIssuer) -> None:
    [key] = issuer.jwks()["keys"]

    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert (key["alg"], key["use"], key["kid"]) == ("EdDSA", "sig", issuer.kid)


def test_expired_token_is_rejected(provider: FakeProvider, issuer: TestIssuer) -> None:
    token = issuer.token("user-1", expires_in=-60)

    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(token, provider.jwks_url, issuer)


def test_unknown_kid_is_not_in_the_jwks(provider: FakeProvider, issuer: TestIssuer) -> None:
    token = issuer.token("user-1", kid="other")

    with pytest.raises(jwt.PyJWKClientError):
        _verify(token, provider.jwks_url, issuer)


def test_foreign_key_with_same_kid_fails_signature(provider: FakeProvider, issuer: TestIssuer) -> None:
    token = TestIssuer(kid=issuer.kid).token("user-1")

    with pytest.raises(jwt.InvalidSignatureError):
        _verify(token, provider.jwks_url, issuer)


def test_issued_at_is_honoured(issuer: TestIssuer) -> None:
    past = time.time() - 3600
    token = issuer.token("user-1", issued_at=past, expires_in=60)

    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims["iat"] == int(past)
    assert claims["exp"] == int(past + 60)
