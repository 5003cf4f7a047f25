"""Access tokens checked with the shared verifier of `parley_contracts`; its
errors become this service's domain errors here (401 and 503 at the edge)."""

from __future__ import annotations

from dataclasses import dataclass

from parley_history.domain.errors import NotAuthenticated, StoreUnavailable
from parley_platform.access_tokens import (
    JwksVerifier,
    SigningKeysUnavailable,
    TokenRejected,
    http_jwks,
)

__all__ = ["JwksTokenVerifier", "Principal", "http_jwks"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    issued_at: float | None = None
    """The token's `iat` (seconds since the epoch), None when it has none."""
    session_id: str | None = None
    """The token's `sid` (its sign-in), None for a token from an API key."""


class JwksTokenVerifier:
    """The REST API's check of an access token: the shared `JwksVerifier`, its answers as
    history's errors and `Principal`."""

    def __init__(self, verifier: JwksVerifier) -> None:
        self._verifier = verifier

    async def verify(self, token: str) -> Principal:
        try:
            claims = await self._verifier.verify(token)
        except TokenRejected as exc:
            raise NotAuthenticated(exc.reason) from exc
        except SigningKeysUnavailable as exc:
            raise StoreUnavailable("the signing keys cannot be fetched right now") from exc
        return Principal(user_id=claims.sub, role=claims.role, issued_at=claims.iat, session_id=claims.sid)
