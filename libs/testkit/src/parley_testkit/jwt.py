"""A test token issuer: Ed25519 keys, a JWKS, and EdDSA access tokens."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any, ClassVar

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class TestIssuer:
    """Issues tokens the way Parley's auth service does, with a throwaway key.

    For a bad-signature token, use another issuer with the same kid:
    `TestIssuer(kid=issuer.kid).token(...)`.
    """

    __test__: ClassVar[bool] = False

    def __init__(self, issuer: str = "parley-test", audience: str = "parley", kid: str | None = None) -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = kid if kid is not None else secrets.token_hex(8)
        self.private_key = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, Any]:
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def token(
        self,
        sub: str,
        *,
        role: str = "user",
        expires_in: float = 300,
        kid: str | None = None,
        extra: dict[str, Any] | None = None,
        issued_at: float | None = None,
    ) -> str:
        """An EdDSA JWT; `extra` claims are added last and may override the standard ones."""
        iat = time.time() if issued_at is None else issued_at
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "role": role,
            "iat": int(iat),
            "exp": int(iat + expires_in),
            "jti": uuid.uuid4().hex,
        }
        claims.update(extra or {})
        headers = {"kid": self.kid if kid is None else kid}
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers=headers)
