"""Access tokens checked with the shared verifier of `parley_contracts`; its
errors become the gateway's typed refusals here."""

from __future__ import annotations

from parley_gateway.domain.auth import AccountAccess, Principal
from parley_gateway.domain.clock import Clock
from parley_gateway.domain.errors import AuthUnavailable, CredentialRefused, ErrorCode
from parley_platform.access_tokens import (
    JwksSource,
    JwksVerifier,
    SigningKeysUnavailable,
    TokenRejected,
    http_jwks,
)

__all__ = ["JwksTokenVerifier", "http_jwks"]


class JwksTokenVerifier:
    """`TokenVerifier`: signature by a JWKS key (by `kid`), `exp`, `iss`, `aud`, `sub`; then
    what the account's latest access change allows (`access`: disabled, revoked, demoted)."""

    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway_s: float,
        refetch_floor_s: float,
        clock: Clock,
        access: AccountAccess | None = None,
        max_age_s: float = 300.0,
        max_stale_s: float = 3600.0,
    ) -> None:
        self.access = access or AccountAccess()
        self._verifier = JwksVerifier(
            source,
            issuer=issuer,
            audience=audience,
            leeway_s=leeway_s,
            refetch_floor_s=refetch_floor_s,
            clock=clock,
            max_age_s=max_age_s,
            max_stale_s=max_stale_s,
        )

    async def refresh(self) -> bool:
        """Fetch the JWKS now if the floor allows; False when that failed."""
        return await self._verifier.refresh()

    async def verify(self, token: str) -> Principal:
        try:
            claims = await self._verifier.verify(token)
        except TokenRejected as exc:
            code = ErrorCode.TOKEN_EXPIRED if exc.expired else ErrorCode.INVALID_TOKEN
            raise CredentialRefused(code, exc.reason) from exc
        except SigningKeysUnavailable as exc:
            raise AuthUnavailable("the signing keys cannot be fetched right now; try again") from exc
        principal = Principal(
            user_id=claims.sub,
            role=claims.role,
            expires_at=claims.exp,
            issued_at=claims.iat,
            session_id=claims.sid,
        )
        return self.access.check(principal)
