"""What the account use cases work with and return: accounts, their sessions (refresh
tokens) and API keys, and the claims of an access token. The adapters map the database's
rows to these; the entrypoints map these to response bodies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parley_auth.domain.accounts import Role


@dataclass
class Account:
    """An account, detached from the store: a change counts once `Accounts.save` has it."""

    id: uuid.UUID
    email: str
    email_norm: str
    display_name: str
    password_hash: str
    role: Role
    created_at: datetime
    updated_at: datetime
    disabled: bool = False
    preferences: dict[str, Any] = field(default_factory=dict)
    budget_tokens: int | None = None
    access_changed_at: datetime | None = None
    """The last time its access changed (disabled, enabled, role, a session ended, a new password)."""
    tokens_not_before: datetime | None = None
    """Access tokens issued before are refused (the last disable or new password)."""


@dataclass(frozen=True)
class RefreshToken:
    """One refresh token of a session; the session is its family (`family_id`)."""

    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class ApiKey:
    """An API key as its owner's list shows it; the secret itself is never stored."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class AccessClaims:
    sub: str
    role: str
    jti: str
    exp: int
    sid: str | None
    iat: float = 0.0


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None
