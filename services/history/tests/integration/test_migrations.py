"""The Alembic migrations create exactly what the ORM models describe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from parley_history.adapters.database import alembic_config, make_engine, migrate
from parley_history.adapters.orm import Base
from tests.conftest import sql_store

CONVERSATION = UUID("0193a8f0-0000-7000-8000-000000000001")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection)
    return [d for d in compare_metadata(context, Base.metadata)]


async def test_models_match_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    # the full-text index exists only in the migration (PostgreSQL expression index)
    diff = [
        d
        for d in diff
        if not (
            isinstance(d, tuple)
            and d[0] == "remove_index"
            and getattr(d[1], "name", "") == "ix_messages_content_fts"
        )
    ]
    assert diff == []


async def test_upgrading_keeps_existing_conversations_in_no_project(db_url: str) -> None:
    """0001 -> head on a database with data (a `make dev` SQLite file, a running PostgreSQL)."""
    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0001")
    store = sql_store(db_url)
    try:
        async with store.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO conversations (id, user_id, fallback_title, pinned, created_at, updated_at) "
                    "VALUES (:id, 'alice', 'old chat', false, :at, :at)"
                ),
                {"id": CONVERSATION if db_url.startswith("postgresql") else CONVERSATION.hex, "at": AT},
            )
        await asyncio.to_thread(migrate, db_url)
        view = await store.get_conversation("alice", CONVERSATION)
        assert (view.summary.title, view.summary.project_id) == ("old chat", None)
        assert await store.list_projects("alice") == ()
        assert await store.count_prompts("alice") == 0
    finally:
        await store.close()
