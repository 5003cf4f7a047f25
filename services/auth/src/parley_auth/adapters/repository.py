"""`Repository` over one SQLAlchemy async session (accounts, sessions, API keys and signing
keys here; the ledger's queries in `ledger_queries`, the catalogue's in `catalog_repository`),
and `Database`: the engine and its transactions. The same code runs on PostgreSQL (asyncpg)
and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from parley_auth.adapters.catalog_repository import CatalogRepository
from parley_auth.adapters.ledger_queries import LedgerQueries
from parley_auth.adapters.orm import ApiKeyRow, RefreshTokenRow, SigningKeyRow, UserRow
from parley_auth.domain.errors import Conflict

T = TypeVar("T")


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Repository(LedgerQueries):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.catalog = CatalogRepository(session)

    # users
    async def count_users(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def count_admins(self) -> int:
        """Admins whose account is enabled."""
        statement = (
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == "admin", UserRow.disabled.is_(False))
        )
        return int(await self.session.scalar(statement) or 0)

    async def lock_registrations(self) -> None:
        """Until the transaction ends, registrations wait for each other, so that the decision
        "no admin yet" is taken by one at a time. PostgreSQL: an advisory lock; SQLite has one
        writer (and the service a lock of its own)."""
        if self.session.get_bind().dialect.name == "postgresql":
            key = func.hashtextextended("parley.registrations", 0)
            await self.session.execute(select(func.pg_advisory_xact_lock(key)))

    async def user_by_skeleton(self, email_skeleton: str) -> UserRow | None:
        return await self.session.scalar(
            select(UserRow).where(UserRow.email_skeleton == email_skeleton).limit(1)
        )

    async def add_user(self, user: UserRow) -> None:
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as exc:  # a concurrent registration of the same email
            raise Conflict("an account with this email exists") from exc

    async def user_by_email(self, email_norm: str) -> UserRow | None:
        return await self.session.scalar(select(UserRow).where(UserRow.email_norm == email_norm))

    async def user(self, user_id: uuid.UUID) -> UserRow | None:
        return await self.session.get(UserRow, user_id)

    async def users(self, *, query: str | None, limit: int, offset: int) -> tuple[Sequence[UserRow], int]:
        statement = select(UserRow)
        if query:
            pattern = f"%{_like_escape(query.lower())}%"
            statement = statement.where(
                or_(
                    UserRow.email_norm.like(pattern, escape="\\"),
                    func.lower(UserRow.display_name).like(pattern, escape="\\"),
                )
            )
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(UserRow.created_at, UserRow.id).limit(limit).offset(offset)
        )
        return rows.all(), int(total or 0)

    async def users_access_changed_since(self, since: datetime) -> Sequence[UserRow]:
        rows = await self.session.scalars(
            select(UserRow).where(UserRow.access_changed_at >= since).order_by(UserRow.access_changed_at)
        )
        return rows.all()

    # refresh tokens
    async def add_refresh(self, row: RefreshTokenRow) -> None:
        self.session.add(row)
        await self.session.flush()

    async def refresh_by_hash(self, token_hash: str) -> RefreshTokenRow | None:
        return await self.session.scalar(
            select(RefreshTokenRow).where(RefreshTokenRow.token_hash == token_hash)
        )

    async def spend_refresh(self, row_id: uuid.UUID, now: datetime) -> bool:
        """Mark a refresh token used; False when another request spent it first."""
        result = await self.session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.id == row_id, RefreshTokenRow.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def session_ended(self, family_id: uuid.UUID) -> bool:
        """Whether the session (refresh family) was revoked: signed out, or ended by a reuse."""
        statement = select(RefreshTokenRow.id).where(
            RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_not(None)
        )
        return await self.session.scalar(statement.limit(1)) is not None

    async def sessions_ended_since(
        self, since: datetime, *, user_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[str]]:
        """The sessions of these users revoked since `since`, by user."""
        rows = await self.session.execute(
            select(RefreshTokenRow.user_id, RefreshTokenRow.family_id)
            .where(RefreshTokenRow.user_id.in_(user_ids), RefreshTokenRow.revoked_at >= since)
            .distinct()
        )
        ended: dict[uuid.UUID, list[str]] = {}
        for user_id, family_id in rows:
            ended.setdefault(user_id, []).append(str(family_id))
        return ended

    async def session_started(self, family_id: uuid.UUID) -> datetime | None:
        """When the session signed in (its first refresh token)."""
        statement = select(func.min(RefreshTokenRow.created_at)).where(RefreshTokenRow.family_id == family_id)
        started: datetime | None = await self.session.scalar(statement)
        return started

    async def revoke_api_keys(self, user_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.user_id == user_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )

    async def revoke_families(
        self, now: datetime, *, family_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None,
        except_family: uuid.UUID | None = None,
    ) -> None:  # fmt: skip
        statement = update(RefreshTokenRow).where(RefreshTokenRow.revoked_at.is_(None))
        if family_id is not None:
            statement = statement.where(RefreshTokenRow.family_id == family_id)
        if user_id is not None:
            statement = statement.where(RefreshTokenRow.user_id == user_id)
        if except_family is not None:
            statement = statement.where(RefreshTokenRow.family_id != except_family)
        await self.session.execute(
            statement.values(revoked_at=now).execution_options(synchronize_session=False)
        )

    # API keys
    async def add_api_key(self, row: ApiKeyRow) -> None:
        self.session.add(row)
        await self.session.flush()

    async def api_keys(self, user_id: uuid.UUID) -> Sequence[ApiKeyRow]:
        rows = await self.session.scalars(
            select(ApiKeyRow)
            .where(ApiKeyRow.user_id == user_id, ApiKeyRow.revoked_at.is_(None))
            .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        )
        return rows.all()

    async def api_key(self, user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyRow | None:
        return await self.session.scalar(
            select(ApiKeyRow).where(
                ApiKeyRow.id == key_id, ApiKeyRow.user_id == user_id, ApiKeyRow.revoked_at.is_(None)
            )
        )

    async def api_key_by_hash(self, secret_hash: str) -> ApiKeyRow | None:
        return await self.session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.secret_hash == secret_hash, ApiKeyRow.revoked_at.is_(None))
        )

    # signing keys
    async def signing_keys(self) -> Sequence[SigningKeyRow]:
        rows = await self.session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))
        return rows.all()

    async def add_signing_key(self, row: SigningKeyRow, now: datetime) -> None:
        await self.session.execute(
            update(SigningKeyRow).where(SigningKeyRow.retired_at.is_(None)).values(retired_at=now)
        )
        self.session.add(row)
        await self.session.flush()


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if make_url(url).get_backend_name() == "postgresql":
            kwargs |= {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """One transaction: committed when the block ends normally, rolled back on an exception."""
        async with self._sessions() as session, session.begin():
            yield Repository(session)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()


class SqlStore(Generic[T]):
    """A store on a `Database`: each transaction's `Repository` as `scope` makes it a port."""

    def __init__(self, db: Database, scope: Callable[[Repository], T]) -> None:
        self._db = db
        self._scope = scope

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[T]:
        async with self._db.transaction() as repo:
            yield self._scope(repo)
