"""The error codes clients see in `error` frames, and the close codes.

The codes are part of the public interface (docs/architecture.md section 7): clients branch
on them, so they never change meaning. The service README lists them too.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from uuid import UUID


class ErrorCode(StrEnum):
    # Frames the client got wrong: the socket stays usable.
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    BINARY_FRAME = "binary_frame"
    NOT_AUTHENTICATED = "not_authenticated"
    UNKNOWN_MESSAGE = "unknown_message"
    NOT_FOUND = "not_found"
    """A prompt names a conversation or message that is not the user's."""
    # Authentication and sessions.
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    HELLO_TIMEOUT = "hello_timeout"
    AUTH_UNAVAILABLE = "auth_unavailable"
    SESSION_FORBIDDEN = "session_forbidden"
    SESSION_TAKEN_OVER = "session_taken_over"
    ACCOUNT_DISABLED = "account_disabled"
    """An admin disabled the account: its tokens are refused, its sockets closed (4401)."""
    TOKEN_REVOKED = "token_revoked"
    """The token was issued before the account's last disable (4401: sign in again)."""
    # Prompts refused before they reach a worker.
    MODEL_UNAVAILABLE = "model_unavailable"
    TOO_MANY_GENERATIONS = "too_many_generations"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    BROKER_UNAVAILABLE = "broker_unavailable"
    INTERNAL_ERROR = "internal_error"


class CloseCode(IntEnum):
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4401
    """Bad, expired, revoked or missing token, or a disabled account (also: no hello in time)."""
    FORBIDDEN = 4403
    """`hello` named a session of another user."""
    TAKEN_OVER = 4409
    """Another socket resumed this session."""


class GatewayError(Exception):
    """A refusal that becomes an `error` frame at the edge (and maybe a close)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        request_id: str | None = None,
        message_id: UUID | None = None,
        close: CloseCode | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.message_id = message_id
        self.close = close


class BrokerUnavailable(Exception):
    """RabbitMQ did not take (or confirm) a publish or a declaration. `maybe_sent`: the
    message was written, and may have been routed (no confirm came in time)."""

    def __init__(self, reason: str, *, maybe_sent: bool = False) -> None:
        super().__init__(reason)
        self.maybe_sent = maybe_sent
