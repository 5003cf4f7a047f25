"""The `AccountStore` on the database: accounts, sessions and API keys as domain types,
mapped from and to the rows of `Repository` (no row leaves this module)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from parley_auth.adapters.mapping import from_row, to_row
from parley_auth.adapters.orm import ApiKeyRow, RefreshTokenRow, UserRow
from parley_auth.adapters.repository import Database, Repository, SqlStore
from parley_auth.domain.accounts import Role, skeleton
from parley_auth.domain.model import Account, ApiKey, RefreshToken


def _account(row: UserRow) -> Account:
    return from_row(Account, row, role=Role(row.role), preferences=dict(row.preferences or {}))


class SqlAccounts:
    """`Accounts` over one transaction's `Repository`."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    async def count(self) -> int:
        return await self._repo.count_users()

    async def count_admins(self) -> int:
        return await self._repo.count_admins()

    async def get(self, user_id: uuid.UUID) -> Account | None:
        row = await self._repo.user(user_id)
        return None if row is None else _account(row)

    async def by_email(self, email_norm: str) -> Account | None:
        row = await self._repo.user_by_email(email_norm)
        return None if row is None else _account(row)

    async def by_skeleton(self, email_skeleton: str) -> Account | None:
        row = await self._repo.user_by_skeleton(email_skeleton)
        return None if row is None else _account(row)

    async def add(self, account: Account) -> None:
        role, preferences = account.role.value, dict(account.preferences)
        email_skeleton = skeleton(account.email_norm)
        await self._repo.add_user(
            to_row(UserRow, account, role=role, preferences=preferences, email_skeleton=email_skeleton)
        )

    async def save(self, account: Account) -> None:
        row = await self._repo.user(account.id)  # the session's own row when it was read before
        if row is None:
            raise LookupError(f"account {account.id} is gone")
        row.display_name = account.display_name
        row.password_hash = account.password_hash
        row.role = account.role.value
        row.disabled = account.disabled
        row.preferences = dict(account.preferences)
        row.budget_tokens = account.budget_tokens
        row.updated_at = account.updated_at
        row.access_changed_at = account.access_changed_at
        row.tokens_not_before = account.tokens_not_before

    async def search(self, *, query: str | None, limit: int, offset: int) -> tuple[list[Account], int]:
        rows, total = await self._repo.users(query=query, limit=limit, offset=offset)
        return [_account(row) for row in rows], total

    async def access_changed_since(self, since: datetime) -> list[Account]:
        return [_account(row) for row in await self._repo.users_access_changed_since(since)]

    async def add_refresh(self, token: RefreshToken, *, token_hash: str) -> None:
        await self._repo.add_refresh(to_row(RefreshTokenRow, token, token_hash=token_hash))

    async def refresh_by_hash(self, token_hash: str) -> RefreshToken | None:
        row = await self._repo.refresh_by_hash(token_hash)
        return None if row is None else from_row(RefreshToken, row)

    async def spend_refresh(self, token_id: uuid.UUID, now: datetime) -> bool:
        return await self._repo.spend_refresh(token_id, now)

    async def revoke_sessions(
        self, now: datetime, *, family_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None,
        except_family: uuid.UUID | None = None,
    ) -> None:  # fmt: skip
        await self._repo.revoke_families(
            now, family_id=family_id, user_id=user_id, except_family=except_family
        )

    async def session_ended(self, family_id: uuid.UUID) -> bool:
        return await self._repo.session_ended(family_id)

    async def session_started(self, family_id: uuid.UUID) -> datetime | None:
        return await self._repo.session_started(family_id)

    async def sessions_ended_since(
        self, since: datetime, *, user_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[str]]:
        return await self._repo.sessions_ended_since(since, user_ids=user_ids)

    async def add_api_key(self, key: ApiKey, *, secret_hash: str) -> None:
        await self._repo.add_api_key(to_row(ApiKeyRow, key, secret_hash=secret_hash))

    async def api_keys(self, user_id: uuid.UUID) -> list[ApiKey]:
        return [from_row(ApiKey, row) for row in await self._repo.api_keys(user_id)]

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        row = await self._repo.api_key_by_hash(secret_hash)
        return None if row is None else from_row(ApiKey, row)

    async def key_used(self, key_id: uuid.UUID, now: datetime) -> None:
        row = await self._repo.session.get(ApiKeyRow, key_id)
        if row is not None:
            row.last_used_at = now

    async def revoke_api_key(self, user_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> bool:
        row = await self._repo.api_key(user_id, key_id)
        if row is None:
            return False
        row.revoked_at = now
        return True

    async def revoke_api_keys(self, user_id: uuid.UUID, now: datetime) -> None:
        await self._repo.revoke_api_keys(user_id, now)


class SqlAccountStore(SqlStore[SqlAccounts]):
    """`AccountStore` on a `Database`; `registering` orders this process's registrations
    (PostgreSQL orders them across replicas with an advisory lock, see `lock_registrations`)."""

    def __init__(self, db: Database, registering: asyncio.Lock) -> None:
        super().__init__(db, SqlAccounts)
        self._registering = registering

    @asynccontextmanager
    async def registration(self) -> AsyncIterator[SqlAccounts]:
        async with self._registering, self._db.transaction() as repo:
            await repo.lock_registrations()
            yield SqlAccounts(repo)
