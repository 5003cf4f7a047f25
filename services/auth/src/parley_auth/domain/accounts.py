"""Accounts: roles, the password policy, who becomes admin."""

from __future__ import annotations

import enum

from parley_auth.domain.errors import PolicyViolation

PASSWORD_MAX_LENGTH = 256
"""Long enough for any passphrase, short enough that hashing cannot be abused."""

_COMMON = frozenset(
    {
        "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwertyuiop",
        "iloveyou", "11111111", "abc12345", "letmein1", "welcome1", "passw0rd", "admin123", "qwerty123",
    }
)  # fmt: skip


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


def normalize_email(email: str) -> str:
    """The case-insensitive identity of an email address."""
    return email.strip().lower()


def check_password(password: str, *, email: str, min_length: int) -> None:
    if len(password) < min_length:
        raise PolicyViolation(f"the password must have at least {min_length} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PolicyViolation(f"the password must have at most {PASSWORD_MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 3:
        raise PolicyViolation("the password is too easy to guess")
    if lowered == normalize_email(email) or lowered == normalize_email(email).split("@")[0]:
        raise PolicyViolation("the password must not be the email address")


def initial_role(email: str, *, admin_email: str | None, first_account: bool) -> Role:
    """The first account created, or the one named by `PARLEY_ADMIN_EMAIL`, is admin."""
    if first_account:
        return Role.ADMIN
    if admin_email is not None and normalize_email(admin_email) == normalize_email(email):
        return Role.ADMIN
    return Role.USER
