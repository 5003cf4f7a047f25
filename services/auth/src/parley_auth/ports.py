"""What the use cases need from the outside world, as small protocols."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from parley_auth.domain.model import AccessClaims, Account, ApiKey, RefreshToken
from parley_contracts import DomainEvent


class EventPublisher(Protocol):
    async def publish(self, event: DomainEvent) -> None:
        """Publish on `chat.events` with a confirm; raises `BrokerUnavailable` when it cannot."""

    async def connected(self) -> bool: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password; `None` hash: still spends the time of a check."""

    def needs_rehash(self, password_hash: str) -> bool: ...


class Now(Protocol):
    def __call__(self) -> datetime: ...


class TokenIssuer(Protocol):
    def issue(self, *, sub: str, role: str, now: datetime, sid: str | None = None) -> str:
        """A signed access token; `sid`: the session (refresh family) of a browser sign-in."""


class TokenVerifier(Protocol):
    def verify(self, token: str, now: datetime) -> AccessClaims:
        """The claims of a valid access token; raises `InvalidToken` otherwise."""


class Accounts(Protocol):
    """Accounts, their sessions and API keys, within one transaction of an `AccountStore`."""

    async def count(self) -> int: ...

    async def count_admins(self) -> int:
        """Admins whose account is enabled."""

    async def get(self, user_id: uuid.UUID) -> Account | None: ...

    async def by_email(self, email_norm: str) -> Account | None: ...

    async def by_skeleton(self, email_skeleton: str) -> Account | None: ...

    async def add(self, account: Account) -> None:
        """Raises `Conflict` when the email is taken meanwhile."""

    async def save(self, account: Account) -> None: ...

    async def search(self, *, query: str | None, limit: int, offset: int) -> tuple[list[Account], int]:
        """Accounts whose email or display name contains `query`, and how many in all."""

    async def access_changed_since(self, since: datetime) -> list[Account]: ...

    async def add_refresh(self, token: RefreshToken, *, token_hash: str) -> None: ...

    async def refresh_by_hash(self, token_hash: str) -> RefreshToken | None: ...

    async def spend_refresh(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark a refresh token used; False when another request spent it first."""

    async def revoke_sessions(
        self,
        now: datetime,
        *,
        family_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        except_family: uuid.UUID | None = None,
    ) -> None: ...

    async def session_ended(self, family_id: uuid.UUID) -> bool: ...

    async def session_started(self, family_id: uuid.UUID) -> datetime | None: ...

    async def sessions_ended_since(
        self, since: datetime, *, user_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[str]]: ...

    async def add_api_key(self, key: ApiKey, *, secret_hash: str) -> None: ...

    async def api_keys(self, user_id: uuid.UUID) -> list[ApiKey]:
        """The account's keys not revoked, oldest first."""

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        """A key not revoked."""

    async def key_used(self, key_id: uuid.UUID, now: datetime) -> None: ...

    async def revoke_api_key(self, user_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> bool:
        """False when the account has no such key (not revoked)."""

    async def revoke_api_keys(self, user_id: uuid.UUID, now: datetime) -> None: ...


class AccountStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Accounts]:
        """Committed when the block ends normally, rolled back on an exception."""

    def registration(self) -> AbstractAsyncContextManager[Accounts]:
        """A transaction in which registrations take turns, so that the decision "no admin
        yet" is taken by one at a time."""


class Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class LabelledCounter(Protocol):
    def labels(self, *values: str) -> Counter: ...


class AccountMetrics(Protocol):
    @property
    def registrations(self) -> Counter: ...

    @property
    def logins(self) -> LabelledCounter:
        """By outcome: `ok`, `failed`, `disabled`."""

    @property
    def refreshes(self) -> LabelledCounter:
        """By outcome: `ok`, `invalid`, `reused`."""
