"""What the use cases need from the outside world, as small protocols."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Protocol

from parley_auth.domain.catalog import Model, Provider
from parley_auth.domain.model import AccessClaims, Account, ApiKey, RefreshToken
from parley_auth.domain.quota import Bill, DailyUsage, Price, QuotaBlock
from parley_contracts import DomainEvent


class BrokerUnavailable(RuntimeError):
    """An event could not be published (confirmed) now."""


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


class QuotaMetrics(Protocol):
    @property
    def quota(self) -> LabelledCounter:
        """By event type: `quota.exceeded`, `quota.restored`."""


class Ledger(Protocol):
    """The usage ledger, the bills and the quota blocks, within one transaction of a `LedgerStore`."""

    async def mark_processed(self, event_id: uuid.UUID, now: datetime) -> bool:
        """True the first time an event is seen; False for a redelivery."""

    async def lock_quota(self, user_id: str) -> None:
        """Until the transaction ends, this user's quota decisions wait for each other."""

    async def billed(self, message_id: uuid.UUID) -> Bill | None: ...

    async def bill(self, bill: Bill, *, instead_of: Bill | None) -> None:
        """Count `bill` in the usage as its message's bill, taking the place of `instead_of`
        (its usage taken back; a day it leaves at no requests goes)."""

    async def price(self, model: str) -> Price | None:
        """The catalogue's price of a model it knows."""

    async def budget_override(self, user_id: str) -> int | None:
        """The account's own budget; None for none, or no such account."""

    async def tokens_used(self, user_id: str, since: date) -> int: ...

    async def usage(
        self, *, user_id: str | None, since: date | None, until: date | None, limit: int
    ) -> list[DailyUsage]:
        """Newest day first, then by user and model."""

    async def block(self, user_id: str) -> QuotaBlock | None: ...

    async def blocks(self) -> list[QuotaBlock]: ...

    async def add_block(self, block: QuotaBlock) -> None: ...

    async def save_block(self, block: QuotaBlock) -> None: ...

    async def remove_block(self, user_id: str) -> None: ...


class LedgerStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Ledger]:
        """Committed when the block ends normally, rolled back on an exception."""


class Catalog(Protocol):
    """The model catalogue, within one transaction of a `CatalogStore`."""

    async def revision(self) -> int: ...

    async def bump(self, now: datetime) -> int:
        """The next revision; other changes wait for this transaction to end (so that each
        snapshot is that of its revision)."""

    async def lock(self) -> int:
        """The revision, other changes waiting for this transaction to end."""

    async def seed_digest(self) -> str | None:
        """The models file this catalogue is a copy of; None once an admin changed it."""

    async def set_seed_digest(self, digest: str | None) -> None: ...

    async def clear(self) -> None:
        """Every model and provider gone."""

    async def is_empty(self) -> bool: ...

    async def providers(self) -> list[Provider]:
        """By name."""

    async def models(self) -> list[Model]:
        """By name."""

    async def provider(self, provider_id: uuid.UUID) -> Provider | None: ...

    async def model(self, model_id: uuid.UUID) -> Model | None: ...

    async def provider_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool: ...

    async def model_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool: ...

    async def model_names_of(self, provider_id: uuid.UUID) -> list[str]:
        """The models that use a provider, by name."""

    async def add_provider(self, provider: Provider) -> None:
        """Raises `Conflict` when the name is taken meanwhile (so do the other changes)."""

    async def save_provider(self, provider: Provider) -> None: ...

    async def delete_provider(self, provider_id: uuid.UUID) -> None: ...

    async def add_model(self, model: Model) -> None: ...

    async def save_model(self, model: Model) -> None: ...

    async def delete_model(self, model_id: uuid.UUID) -> None: ...


class CatalogStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Catalog]:
        """Committed when the block ends normally, rolled back on an exception."""
