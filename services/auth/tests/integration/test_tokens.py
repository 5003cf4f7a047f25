"""Access tokens, the JWKS, key rotation and refresh rotation, and the JWT attacks."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from parley_auth.__main__ import rotate_key
from parley_testkit import TestIssuer
from tests.integration.conftest import AUDIENCE, ISSUER, Api, User, login


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user: User) -> dict[str, Any]:
    return jwt.decode(user.token, options={"verify_signature": False})


def _sign(api: Api, claims: dict[str, Any], **header: Any) -> str:
    key = api.auth.keys.active()
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, **header})


async def _status(api: Api, token: str) -> int:
    response = await api.http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()
    return response.status_code


async def test_access_token_claims_verify_against_the_jwks(api: Api, alice: User) -> None:
    header = jwt.get_unverified_header(alice.token)
    jwks = (await api.http.get("/api/auth/jwks.json")).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert header["alg"] == "EdDSA"
    assert "d" not in key
    claims = jwt.decode(alice.token, jwt.PyJWK(key), algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == alice.id
    assert claims["role"] == "user"
    assert {"iss", "aud", "sub", "role", "exp", "iat", "jti"} <= set(claims)
    assert claims["exp"] - int(claims["iat"]) == api.auth.settings.access_ttl_s  # iat: microseconds


def _attacks(api: Api, user: User) -> dict[str, str]:
    good = _claims(user)
    now = int(time.time())
    kid = api.auth.keys.active().kid
    public_pem = api.auth.keys.active().public_key.public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    raw_public = api.auth.keys.active().public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    head, body, sig = user.token.split(".")
    tampered = dict(good, role="admin", sub=str(uuid.uuid4()))
    none_header = _b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    hs_header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    import hashlib
    import hmac

    def hs256(secret: bytes, claims: dict[str, Any]) -> str:
        signing_input = f"{hs_header}.{_b64(json.dumps(claims).encode())}".encode()
        return signing_input.decode() + "." + _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())

    return {
        "alg none": f"{none_header}.{_b64(json.dumps(good).encode())}.",
        "alg none with signature": f"{none_header}.{body}.{sig}",
        "HS256 with the PEM public key": hs256(public_pem, good),
        "HS256 with the raw public key": hs256(raw_public, good),
        "expired": _sign(api, dict(good, iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
        "not yet valid (nbf)": _sign(api, dict(good, nbf=now + 3600, exp=now + 7200)),
        "issued in the future (iat)": _sign(api, dict(good, iat=now + 3600, nbf=now, exp=now + 7200)),
        "wrong audience": _sign(api, dict(good, aud="someone-else")),
        "wrong issuer": _sign(api, dict(good, iss="evil")),
        "no exp": _sign(api, {k: v for k, v in good.items() if k != "exp"}),
        "unknown kid": TestIssuer(ISSUER, AUDIENCE).token(user.id),
        "same kid, another key": TestIssuer(ISSUER, AUDIENCE, kid=kid).token(user.id),
        "tampered payload": f"{head}.{_b64(json.dumps(tampered).encode())}.{sig}",
        "tampered signature": f"{head}.{body}.{sig[:-4]}AAAA",
        "garbage": "not.a.jwt",
        "empty": "",
    }


async def test_jwt_attacks_are_refused(api: Api, alice: User) -> None:
    assert await _status(api, alice.token) == 200
    for name, token in _attacks(api, alice).items():
        assert await _status(api, token) in (401, 403), name
        # and on an admin route, which must not leak data either
        response = await api.http.get("/api/auth/users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (401, 403), name
        assert "users" not in response.json(), name


async def test_missing_token_is_401(api: Api) -> None:
    routes = [("GET", "/api/auth/me"), ("PATCH", "/api/auth/me"), ("GET", "/api/auth/keys"),
              ("POST", "/api/auth/keys"), ("GET", "/api/auth/users"), ("GET", "/api/auth/usage")]  # fmt: skip
    for method, path in routes:
        response = await api.http.request(method, path, json={})
        assert response.status_code == 401, path


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api, alice: User) -> None:
    first = alice.http.cookies.get("parley_refresh")
    response = await alice.http.post("/api/auth/refresh")
    assert response.status_code == 200
    assert response.json()["access_token"]
    second = alice.http.cookies.get("parley_refresh")
    assert second
    assert second != first
    # A thief replays the spent cookie:
    thief = api.client()
    replay = await thief.post("/api/auth/refresh", headers={"Cookie": f"parley_refresh={first}"})
    assert replay.status_code == 401
    # ... and the whole family is gone, the legitimate holder's newer cookie included.
    assert (await alice.http.post("/api/auth/refresh")).status_code == 401
    await thief.aclose()


async def test_refresh_without_or_with_a_forged_cookie(api: Api) -> None:
    assert (await api.http.post("/api/auth/refresh")).status_code == 401
    forged = await api.http.post("/api/auth/refresh", headers={"Cookie": "parley_refresh=forged"})
    assert forged.status_code == 401


async def test_refresh_cookie_is_not_sent_elsewhere(alice: User) -> None:
    """Path-scoped: the browser (httpx's jar) sends it to the refresh path only."""
    request = alice.http.build_request("GET", "/api/auth/me")
    assert "parley_refresh" not in request.headers.get("cookie", "")
    request = alice.http.build_request("POST", "/api/auth/refresh")
    assert "parley_refresh" in request.headers.get("cookie", "")


async def test_key_rotation_keeps_old_tokens_valid(api: Api, alice: User) -> None:
    old_kid = jwt.get_unverified_header(alice.token)["kid"]
    await rotate_key(api.auth.settings)
    async with api.auth.db.transaction() as repo:
        await api.auth.keys.load(repo, api.auth.now(), create=False)
    kids = [k["kid"] for k in (await api.http.get("/api/auth/jwks.json")).json()["keys"]]
    assert old_kid in kids
    assert len(kids) >= 2
    assert await _status(api, alice.token) == 200  # signed by the retired key: still valid
    fresh = (await alice.http.post("/api/auth/refresh")).json()["access_token"]
    assert jwt.get_unverified_header(fresh)["kid"] != old_kid
    assert await _status(api, fresh) == 200


@pytest.mark.parametrize("path", ["/api/auth/token"])
async def test_api_key_exchange_with_bad_keys(api: Api, path: str) -> None:
    for key in ("pk_nope", "nope", "' OR 1=1 --", "pk_" + "a" * 43):
        assert (await api.http.post(path, json={"api_key": key})).status_code == 401
    assert (await api.http.post(path, json={"api_key": "x" * 5000})).status_code == 422


async def test_logged_in_user_relogin(api: Api, alice: User) -> None:
    again = await login(api, alice.email)
    assert again.id == alice.id
    await again.http.aclose()
