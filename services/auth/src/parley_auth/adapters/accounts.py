"""The `AccountStore` on the database: accounts, sessions and API keys as domain types,
mapped from and to the rows of `Repository` (no row leaves this module)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from parley_auth.adapters.orm import ApiKeyRow, RefreshTokenRow, UserRow
from parley_auth.adapters.repository import Database, Repository
from parley_auth.domain.accounts import Role, skeleton
from parley_auth.domain.model import Account, ApiKey, RefreshToken


def _account(row: UserRow) -> Account:
    return Account(
        id=row.id, email=row.email, email_norm=row.email_norm, display_name=row.display_name,
        password_hash=row.password_hash, role=Role(row.role), created_at=row.created_at,
        updated_at=row.updated_at, disabled=row.disabled, preferences=dict(row.preferences or {}),
        budget_tokens=row.budget_tokens, access_changed_at=row.access_changed_at,
        tokens_not_before=row.tokens_not_before,
    )  # fmt: skip


def _refresh(row: RefreshTokenRow) -> RefreshToken:
    return RefreshToken(
        id=row.id, family_id=row.family_id, user_id=row.user_id, created_at=row.created_at,
        expires_at=row.expires_at, used_at=row.used_at, revoked_at=row.revoked_at,
    )  # fmt: skip


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id, user_id=row.user_id, name=row.name, prefix=row.prefix, created_at=row.created_at,
        last_used_at=row.last_used_at,
    )  # fmt: skip


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
        await self._repo.add_user(
            UserRow(
                id=account.id, email=account.email, email_norm=account.email_norm,
                email_skeleton=skeleton(account.email_norm), display_name=account.display_name,
                password_hash=account.password_hash, role=account.role.value, disabled=account.disabled,
                preferences=dict(account.preferences), budget_tokens=account.budget_tokens,
                created_at=account.created_at, updated_at=account.updated_at,
                access_changed_at=account.access_changed_at, tokens_not_before=account.tokens_not_before,
            )
        )  # fmt: skip

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
        await self._repo.add_refresh(
            RefreshTokenRow(
                id=token.id, family_id=token.family_id, user_id=token.user_id, token_hash=token_hash,
                created_at=token.created_at, expires_at=token.expires_at, used_at=token.used_at,
                revoked_at=token.revoked_at,
            )
        )  # fmt: skip

    async def refresh_by_hash(self, token_hash: str) -> RefreshToken | None:
        row = await self._repo.refresh_by_hash(token_hash)
        return None if row is None else _refresh(row)

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
        await self._repo.add_api_key(
            ApiKeyRow(
                id=key.id, user_id=key.user_id, name=key.name, prefix=key.prefix, secret_hash=secret_hash,
                created_at=key.created_at, last_used_at=key.last_used_at,
            )
        )  # fmt: skip

    async def api_keys(self, user_id: uuid.UUID) -> list[ApiKey]:
        return [_api_key(row) for row in await self._repo.api_keys(user_id)]

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        row = await self._repo.api_key_by_hash(secret_hash)
        return None if row is None else _api_key(row)

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


class SqlAccountStore:
    """`AccountStore` on a `Database`; `registering` orders this process's registrations
    (PostgreSQL orders them across replicas with an advisory lock, see `lock_registrations`)."""

    def __init__(self, db: Database, registering: asyncio.Lock) -> None:
        self._db = db
        self._registering = registering

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlAccounts]:
        async with self._db.transaction() as repo:
            yield SqlAccounts(repo)

    @asynccontextmanager
    async def registration(self) -> AsyncIterator[SqlAccounts]:
        async with self._registering, self._db.transaction() as repo:
            await repo.lock_registrations()
            yield SqlAccounts(repo)
