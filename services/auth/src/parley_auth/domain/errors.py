"""Domain errors; the HTTP edge turns each into a status code (see `entrypoints/app.py`)."""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error the auth service reports to a client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidCredentials(AuthError):
    """Wrong email or password, or a bad API key."""


class InvalidToken(AuthError):
    """A missing, malformed, expired or revoked access or refresh token."""


class AccountDisabled(AuthError):
    pass


class Forbidden(AuthError):
    pass


class NotFound(AuthError):
    pass


class Conflict(AuthError):
    """The email is taken, or the change would break an invariant."""


class PolicyViolation(AuthError):
    """A password or input the policy refuses."""

    def __init__(self, detail: str, *, field: str = "password") -> None:
        super().__init__(detail)
        self.field = field


class Throttled(AuthError):
    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(AuthError):
    """The service cannot do this as configured (e.g. no secret to seal provider keys with)."""
