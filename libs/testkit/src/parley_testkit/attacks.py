"""The JWT attack list (issue 4): tokens every verifier of Parley must refuse.

Each entry is (name, a function making the token from the trusted issuer's key
material, the gateway's error code for it). The gateway answers each with an
`error` frame and closes the socket 4401; REST services answer 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from parley_testkit.jwt import TestIssuer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_b64(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _claims(issuer: TestIssuer, sub: str = "alice") -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer.issuer, "aud": issuer.audience, "sub": sub, "iat": now, "exp": now + 300}


def alg_none(issuer: TestIssuer) -> str:
    """Unsigned, with the trusted kid."""
    header = {"alg": "none", "typ": "JWT", "kid": issuer.kid}
    return f"{_json_b64(header)}.{_json_b64(_claims(issuer))}."


def hs256_with_public_key(issuer: TestIssuer) -> str:
    """Algorithm confusion: an HMAC over the token keyed with the trusted public key (PEM and raw)."""
    public = issuer.private_key.public_key()
    secret = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    signing_input = f"{_json_b64(header)}.{_json_b64(_claims(issuer))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered_payload(issuer: TestIssuer) -> str:
    """A genuine token whose payload was edited afterwards (another user, admin)."""
    header, _, signature = issuer.token("alice").split(".")
    forged = {**_claims(issuer, sub="mallory"), "role": "admin"}
    return f"{header}.{_json_b64(forged)}.{signature}"


ATTACKS: list[tuple[str, Callable[[TestIssuer], str], str]] = [
    ("alg-none", alg_none, "invalid_token"),
    ("hs256-with-public-key", hs256_with_public_key, "invalid_token"),
    ("expired", lambda i: i.token("alice", expires_in=-60), "token_expired"),
    ("not-yet-valid", lambda i: i.token("alice", extra={"nbf": int(time.time()) + 300}), "invalid_token"),
    ("wrong-audience", lambda i: i.token("alice", extra={"aud": "elsewhere"}), "invalid_token"),
    ("wrong-issuer", lambda i: i.token("alice", extra={"iss": "somebody"}), "invalid_token"),
    ("unknown-kid", lambda i: i.token("alice", kid="not-a-known-kid"), "invalid_token"),
    ("tampered-payload", tampered_payload, "invalid_token"),
    (
        "signed-by-another-key",
        lambda i: TestIssuer(i.issuer, i.audience, kid=i.kid).token("a"),
        "invalid_token",
    ),
]
