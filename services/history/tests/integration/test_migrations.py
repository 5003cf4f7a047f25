"""The Alembic migrations create exactly what the ORM models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from parley_history.adapters.database import make_engine
from parley_history.adapters.orm import Base


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
