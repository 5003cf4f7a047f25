"""The error codes clients see in `error` frames, and the refusals that carry them.

The codes are part of the public interface (docs/architecture.md section 7): clients branch
on them, so they never change meaning. The service README lists them too. What a refusal
becomes on the wire (a WebSocket close code, an HTTP status) is decided at the edge, by its
type: `entrypoints/ws.py` and `entrypoints/openai.py`.
"""

from __future__ import annotations

from enum import StrEnum
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


class GatewayError(Exception):
    """A refusal that becomes an `error` frame at the edge; the subclasses below say more."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        request_id: str | None = None,
        message_id: UUID | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.message_id = message_id


class CredentialRefused(GatewayError):
    """The credential does not count: a bad, expired or revoked token, a disabled account, a
    token of another user than the socket's, or no `hello` in time. A socket cannot go on."""


class AuthUnavailable(GatewayError):
    """The signing keys cannot be fetched: not the client's fault, but no token can be checked."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.AUTH_UNAVAILABLE, message)


class SessionForbidden(GatewayError):
    """A session id of another user."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.SESSION_FORBIDDEN, message)


class SessionTakenOver(GatewayError):
    """Another socket resumed the session this one held."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.SESSION_TAKEN_OVER, message)


class BrokerUnavailable(Exception):
    """RabbitMQ did not take (or confirm) a publish or a declaration. `maybe_sent`: the
    message was written, and may have been routed (no confirm came in time)."""

    def __init__(self, reason: str, *, maybe_sent: bool = False) -> None:
        super().__init__(reason)
        self.maybe_sent = maybe_sent
