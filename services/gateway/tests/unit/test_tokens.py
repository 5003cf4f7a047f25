from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from parley_gateway.adapters.tokens import JwksTokenVerifier
from parley_gateway.domain.errors import AuthUnavailable, CredentialRefused, ErrorCode, GatewayError
from parley_gateway.entrypoints.close_codes import close_code
from parley_testkit import TestIssuer
from parley_testkit.attacks import ATTACKS
from tests.fakes import FakeClock


class Jwks:
    """A JWKS endpoint as the verifier sees it: its keys, its fetch count, maybe down."""

    def __init__(self, *issuers: TestIssuer) -> None:
        self.issuers = list(issuers)
        self.fetches = 0
        self.down = False

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise ConnectionError("auth service is down")
        return {"keys": [issuer.jwk() for issuer in self.issuers]}


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer(issuer="parley-auth", audience="parley")


@pytest.fixture
def jwks(issuer: TestIssuer) -> Jwks:
    return Jwks(issuer)


@pytest.fixture
def verifier(jwks: Jwks, clock: FakeClock) -> JwksTokenVerifier:
    return JwksTokenVerifier(
        jwks, issuer="parley-auth", audience="parley", leeway_s=0, refetch_floor_s=30, clock=clock
    )


async def rejected(verifier: JwksTokenVerifier, token: str) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await verifier.verify(token)
    return caught.value


async def test_a_good_token_names_its_user(
    verifier: JwksTokenVerifier, issuer: TestIssuer, jwks: Jwks
) -> None:
    principal = await verifier.verify(issuer.token("alice", role="admin", expires_in=120))
    assert (principal.user_id, principal.role) == ("alice", "admin")
    await verifier.verify(issuer.token("bob"))
    assert jwks.fetches == 1  # cached


@pytest.mark.parametrize(
    ("make", "code", "mentions"),
    [
        (lambda i: "garbage", ErrorCode.INVALID_TOKEN, "malformed"),
        (lambda i: i.token("alice", expires_in=-60), ErrorCode.TOKEN_EXPIRED, "expired"),
        (lambda i: i.token("alice", kid="other"), ErrorCode.INVALID_TOKEN, "unknown key"),
        (
            lambda i: TestIssuer("parley-auth", "parley", kid=i.kid).token("a"),
            ErrorCode.INVALID_TOKEN,
            "ignature",
        ),
        (lambda i: TestIssuer("evil", "parley", kid=i.kid).token("a"), ErrorCode.INVALID_TOKEN, "rejected"),
        (lambda i: i.token("alice", extra={"iss": "evil"}), ErrorCode.INVALID_TOKEN, "issuer"),
        (lambda i: i.token("alice", extra={"aud": "other"}), ErrorCode.INVALID_TOKEN, "Audience"),
        (lambda i: i.token("alice", extra={"sub": ""}), ErrorCode.INVALID_TOKEN, "sub"),
        (lambda i: i.token("alice", extra={"sub": None}), ErrorCode.INVALID_TOKEN, "sub"),
        (lambda i: i.token("alice", extra={"exp": None}), ErrorCode.INVALID_TOKEN, "exp"),
        (
            lambda i: jwt.encode({"sub": "a"}, "s" * 32, algorithm="HS256", headers={"kid": i.kid}),
            ErrorCode.INVALID_TOKEN,
            "HS256",
        ),
        (lambda i: jwt.encode({"sub": "a"}, "", algorithm="none"), ErrorCode.INVALID_TOKEN, "kid"),
    ],
)
async def test_bad_tokens_are_refused_with_4401(
    verifier: JwksTokenVerifier, issuer: TestIssuer, make: Any, code: ErrorCode, mentions: str
) -> None:
    error = await rejected(verifier, make(issuer))
    assert error.code == code
    assert mentions in error.message
    assert isinstance(error, CredentialRefused)
    assert close_code(error) == 4401


@pytest.mark.parametrize(
    ("make", "code"), [(make, code) for _, make, code in ATTACKS], ids=[a[0] for a in ATTACKS]
)
async def test_the_jwt_attack_list_is_refused(
    verifier: JwksTokenVerifier, issuer: TestIssuer, make: Any, code: str
) -> None:
    error = await rejected(verifier, make(issuer))
    assert (error.code, close_code(error)) == (code, 4401)
    assert isinstance(error, CredentialRefused)


async def test_an_rs256_key_works_too(clock: FakeClock) -> None:
    key = generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.PyJWK.from_json(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public = {**jwk._jwk_data, "kid": "rsa-1", "alg": "RS256"}

    async def source() -> dict[str, Any]:
        return {"keys": [public, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, "junk"]}

    verifier = JwksTokenVerifier(
        source, issuer="parley-auth", audience="parley", leeway_s=0, refetch_floor_s=30, clock=clock
    )
    claims = {"sub": "alice", "iss": "parley-auth", "aud": "parley", "exp": 4e9}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "rsa-1"})
    assert (await verifier.verify(token)).user_id == "alice"
    hmac = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": "hmac"})
    assert (await rejected(verifier, hmac)).code == ErrorCode.INVALID_TOKEN


async def test_an_unknown_kid_refetches_at_most_once_per_floor(
    verifier: JwksTokenVerifier, issuer: TestIssuer, jwks: Jwks, clock: FakeClock
) -> None:
    await verifier.verify(issuer.token("alice"))
    rotated = TestIssuer(issuer="parley-auth", audience="parley")
    jwks.issuers.append(rotated)
    clock.advance(10)
    # Within the floor the new key is not fetched yet, however many made-up kids come.
    for kid in ("x", "y", rotated.kid):
        assert (await rejected(verifier, rotated.token("alice", kid=kid))).code == ErrorCode.INVALID_TOKEN
    assert jwks.fetches == 1
    clock.advance(20)
    assert (await verifier.verify(rotated.token("bob"))).user_id == "bob"
    assert jwks.fetches == 2
    assert (await verifier.verify(issuer.token("carol"))).user_id == "carol"


async def test_an_unreachable_jwks_is_not_the_clients_fault(
    verifier: JwksTokenVerifier, issuer: TestIssuer, jwks: Jwks, clock: FakeClock
) -> None:
    jwks.down = True
    error = await rejected(verifier, issuer.token("alice"))
    assert (error.code, close_code(error)) == (ErrorCode.AUTH_UNAVAILABLE, 1013)
    assert isinstance(error, AuthUnavailable)
    jwks.down = False
    assert (await rejected(verifier, issuer.token("alice"))).code == ErrorCode.INVALID_TOKEN  # floor
    clock.advance(30)
    assert (await verifier.verify(issuer.token("alice"))).user_id == "alice"
    jwks.down = True
    clock.advance(30)
    assert not await verifier.refresh()
    assert (await verifier.verify(issuer.token("alice"))).user_id == "alice"  # keeps the keys it has
