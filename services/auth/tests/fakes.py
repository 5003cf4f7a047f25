"""Fakes that record state: a publisher whose `published` list tests read, a fast hasher,
an account store in dicts (a transaction that raises leaves it as it was), token keys, metrics
and a clock that tests move."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from parley_auth.domain.accounts import Role
from parley_auth.domain.errors import Conflict, InvalidToken
from parley_auth.domain.model import AccessClaims, Account, ApiKey, RefreshToken
from parley_auth.ports import BrokerUnavailable
from parley_contracts import DomainEvent


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.up = True

    async def publish(self, event: DomainEvent) -> None:
        if not self.up:
            raise BrokerUnavailable("down")
        self.published.append(event)

    async def connected(self) -> bool:
        return self.up

    def of_type(self, type_: str) -> list[DomainEvent]:
        return [e for e in self.published if e.type == type_]


class FakeClock:
    """Wall time for the use cases (`clock()`) and the throttles' monotonic time (`monotonic()`)."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) -> None:
        self.now = start
        self._start = start

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self._start).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeHasher:
    """`hashed:<password>`; `outdated` hashes need rehashing. `hashes` counts the work done."""

    def __init__(self) -> None:
        self.hashes = 0
        self.outdated: set[str] = set()

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return f"hashed:{password}"

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return password_hash == f"hashed:{password}"

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash in self.outdated


class FakeKeys:
    """Access tokens as `token-<n>`, their claims kept here: a `TokenIssuer` and a `TokenVerifier`."""

    def __init__(self, ttl_s: int = 900) -> None:
        self.issued: dict[str, AccessClaims] = {}
        self._ttl_s = ttl_s
        self._numbers = itertools.count(1)

    def issue(self, *, sub: str, role: str, now: datetime, sid: str | None = None) -> str:
        token = f"token-{next(self._numbers)}"
        exp = int(now.timestamp()) + self._ttl_s
        self.issued[token] = AccessClaims(sub, role, token, exp, sid, now.timestamp())
        return token

    def verify(self, token: str, now: datetime) -> AccessClaims:
        claims = self.issued.get(token)
        if claims is None or claims.exp <= now.timestamp():
            raise InvalidToken("invalid or expired token")
        return claims


class FakeCounter:
    def __init__(self) -> None:
        self.value = 0.0
        self.by_label: dict[tuple[str, ...], FakeCounter] = {}

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def labels(self, *values: str) -> FakeCounter:
        return self.by_label.setdefault(values, FakeCounter())

    def count(self, *values: str) -> float:
        return self.by_label[values].value if values in self.by_label else 0.0


class FakeMetrics:
    def __init__(self) -> None:
        self.registrations = FakeCounter()
        self.logins = FakeCounter()
        self.refreshes = FakeCounter()
        self.quota = FakeCounter()


@dataclasses.dataclass
class _StoredKey:
    key: ApiKey
    secret_hash: str
    revoked_at: datetime | None = None


class FakeAccountStore:
    """Accounts, refresh tokens (by hash) and API keys in dicts. Reads return copies, so that
    only `save` changes an account, as with the database."""

    def __init__(self) -> None:
        self.accounts: dict[uuid.UUID, Account] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.keys: dict[uuid.UUID, _StoredKey] = {}
        self.registrations = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeAccounts]:
        saved = copy.deepcopy((self.accounts, self.refresh_tokens, self.keys))
        try:
            yield FakeAccounts(self)
        except BaseException:
            self.accounts, self.refresh_tokens, self.keys = saved
            raise

    @asynccontextmanager
    async def registration(self) -> AsyncIterator[FakeAccounts]:
        self.registrations += 1
        async with self.transaction() as records:
            yield records

    def family(self, family_id: uuid.UUID) -> list[RefreshToken]:
        return [t for t in self.refresh_tokens.values() if t.family_id == family_id]

    def live_keys(self, user_id: uuid.UUID) -> list[ApiKey]:
        return [s.key for s in self.keys.values() if s.key.user_id == user_id and s.revoked_at is None]


class FakeAccounts:
    """`Accounts` over a `FakeAccountStore`."""

    def __init__(self, store: FakeAccountStore) -> None:
        self._store = store

    async def count(self) -> int:
        return len(self._store.accounts)

    async def count_admins(self) -> int:
        return sum(a.role is Role.ADMIN and not a.disabled for a in self._store.accounts.values())

    async def get(self, user_id: uuid.UUID) -> Account | None:
        account = self._store.accounts.get(user_id)
        return copy.deepcopy(account)

    async def by_email(self, email_norm: str) -> Account | None:
        found = [a for a in self._store.accounts.values() if a.email_norm == email_norm]
        return copy.deepcopy(found[0]) if found else None

    async def by_skeleton(self, email_skeleton: str) -> Account | None:
        from parley_auth.domain.accounts import skeleton

        found = [a for a in self._store.accounts.values() if skeleton(a.email_norm) == email_skeleton]
        return copy.deepcopy(found[0]) if found else None

    async def add(self, account: Account) -> None:
        if await self.by_email(account.email_norm) is not None:
            raise Conflict("an account with this email exists")
        self._store.accounts[account.id] = copy.deepcopy(account)

    async def save(self, account: Account) -> None:
        assert account.id in self._store.accounts
        self._store.accounts[account.id] = copy.deepcopy(account)

    async def search(self, *, query: str | None, limit: int, offset: int) -> tuple[list[Account], int]:
        term = (query or "").lower()
        found = sorted(
            (
                a
                for a in self._store.accounts.values()
                if term in a.email_norm or term in a.display_name.lower()
            ),
            key=lambda a: (a.created_at, a.id),
        )
        return copy.deepcopy(found[offset : offset + limit]), len(found)

    async def access_changed_since(self, since: datetime) -> list[Account]:
        changed = [
            a for a in self._store.accounts.values() if a.access_changed_at and a.access_changed_at >= since
        ]
        return copy.deepcopy(sorted(changed, key=lambda a: a.access_changed_at or since))

    async def add_refresh(self, token: RefreshToken, *, token_hash: str) -> None:
        self._store.refresh_tokens[token_hash] = token

    async def refresh_by_hash(self, token_hash: str) -> RefreshToken | None:
        return self._store.refresh_tokens.get(token_hash)

    async def spend_refresh(self, token_id: uuid.UUID, now: datetime) -> bool:
        for token_hash, token in self._store.refresh_tokens.items():
            if token.id == token_id and token.used_at is None:
                self._store.refresh_tokens[token_hash] = dataclasses.replace(token, used_at=now)
                return True
        return False

    async def revoke_sessions(
        self,
        now: datetime,
        *,
        family_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        except_family: uuid.UUID | None = None,
    ) -> None:
        for token_hash, token in self._store.refresh_tokens.items():
            if (
                token.revoked_at is None
                and family_id in (None, token.family_id)
                and user_id in (None, token.user_id)
                and (except_family is None or token.family_id != except_family)
            ):
                self._store.refresh_tokens[token_hash] = dataclasses.replace(token, revoked_at=now)

    async def session_ended(self, family_id: uuid.UUID) -> bool:
        return any(t.revoked_at is not None for t in self._store.family(family_id))

    async def session_started(self, family_id: uuid.UUID) -> datetime | None:
        return min((t.created_at for t in self._store.family(family_id)), default=None)

    async def sessions_ended_since(
        self, since: datetime, *, user_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[str]]:
        ended: dict[uuid.UUID, list[str]] = {}
        for token in self._store.refresh_tokens.values():
            if token.user_id in user_ids and token.revoked_at is not None and token.revoked_at >= since:
                families = ended.setdefault(token.user_id, [])
                if str(token.family_id) not in families:
                    families.append(str(token.family_id))
        return ended

    async def add_api_key(self, key: ApiKey, *, secret_hash: str) -> None:
        self._store.keys[key.id] = _StoredKey(key, secret_hash)

    async def api_keys(self, user_id: uuid.UUID) -> list[ApiKey]:
        return sorted(self._store.live_keys(user_id), key=lambda k: (k.created_at, k.id))

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        found = [
            s.key for s in self._store.keys.values() if s.secret_hash == secret_hash and s.revoked_at is None
        ]
        return found[0] if found else None

    async def key_used(self, key_id: uuid.UUID, now: datetime) -> None:
        stored = self._store.keys[key_id]
        stored.key = dataclasses.replace(stored.key, last_used_at=now)

    async def revoke_api_key(self, user_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> bool:
        stored = self._store.keys.get(key_id)
        if stored is None or stored.key.user_id != user_id or stored.revoked_at is not None:
            return False
        stored.revoked_at = now
        return True

    async def revoke_api_keys(self, user_id: uuid.UUID, now: datetime) -> None:
        for stored in self._store.keys.values():
            if stored.key.user_id == user_id and stored.revoked_at is None:
                stored.revoked_at = now
