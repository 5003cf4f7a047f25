"""Alembic environment: async engines (asyncpg, aiosqlite); the URL comes from the
config (`python -m parley_history migrate`) or from PARLEY_HISTORY_DATABASE_URL. After the
migrations, on PostgreSQL, the runtime role (PARLEY_HISTORY_RUNTIME_ROLE) gets its grants."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from parley_history.adapters.database import grant_runtime_role
from parley_history.adapters.orm import Base
from parley_history.settings import Settings
from parley_platform.database import async_database_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return async_database_url(url) if url else Settings().database_url


def _runtime_role() -> str | None:
    if "runtime_role" in config.attributes:
        role: str | None = config.attributes["runtime_role"]
        return role
    return Settings().runtime_role


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
        role = _runtime_role()
        if role is not None and connection.dialect.name == "postgresql":
            grant_runtime_role(connection, role)


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
