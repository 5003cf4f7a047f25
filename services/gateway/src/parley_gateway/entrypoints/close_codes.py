"""Which code a `/ws` socket closes with: part of the public interface (docs/architecture.md
section 7). The domain refuses with typed errors; this is where they become codes."""

from __future__ import annotations

from enum import IntEnum

from parley_gateway.domain.errors import CredentialRefused, GatewayError, SessionForbidden, SessionTakenOver


class CloseCode(IntEnum):
    """The close codes of the public interface (docs/architecture.md section 7)."""

    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4401
    """Bad, expired, revoked or missing token, or a disabled account (also: no hello in time)."""
    FORBIDDEN = 4403
    """`hello` named a session of another user."""
    TAKEN_OVER = 4409
    """Another socket resumed this session."""


def close_code(error: GatewayError) -> CloseCode:
    """The code a socket closes with because of `error`."""
    if isinstance(error, CredentialRefused):
        return CloseCode.UNAUTHORIZED
    if isinstance(error, SessionForbidden):
        return CloseCode.FORBIDDEN
    if isinstance(error, SessionTakenOver):
        return CloseCode.TAKEN_OVER
    return CloseCode.TRY_AGAIN_LATER  # auth or the broker unavailable, too many resumes
