"""Migration 0004 keeps the usage ledger's costs: a float `cost` becomes exact nano-units.
Migration 0005 adds the billed messages beside the ledger it leaves alone, and goes back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import inspect, text

from parley_auth.__main__ import alembic_config, migrate
from parley_auth.adapters.orm import BilledMessageRow
from parley_auth.adapters.repository import Database
from tests.conftest import in_thread


async def test_costs_survive_the_move_to_nano_units(empty_database_url: str) -> None:
    """On PostgreSQL, and on SQLite (a `make dev` install), where the column moves through a table copy."""
    async with _upgraded_with_usage(empty_database_url, "0003", cost_column="cost", cost=0.0004548) as db:
        async with db.transaction() as repo:
            [row] = await repo.usage(user_id="u", since=None, until=None, limit=10)
        assert (row.day, row.requests, row.cost_nanos, row.cost) == (date(2026, 3, 2), 3, 454_800, 0.0004548)


async def test_billed_messages_come_and_go_beside_the_ledger(empty_database_url: str) -> None:
    url = empty_database_url
    async with _upgraded_with_usage(url, "0004", cost_column="cost_nanos", cost=7) as db:
        message_id = uuid.uuid4()
        async with db.transaction() as repo:
            await repo.bill(
                BilledMessageRow(
                    message_id=message_id, event_id=uuid.uuid4(),
                    occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC), user_id="u", model="m",
                    day=date(2026, 3, 2), prompt_tokens=10, completion_tokens=5, cost_nanos=1,
                )
            )  # fmt: skip
        async with db.transaction() as repo:
            billed = await repo.billed(message_id)
            [row] = await repo.usage(user_id="u", since=None, until=None, limit=10)
        assert billed is not None
        assert billed.occurred_at == datetime(2026, 3, 2, 12, tzinfo=UTC)
        assert (row.requests, row.prompt_tokens, row.completion_tokens, row.cost_nanos) == (4, 110, 55, 8)

        await asyncio.to_thread(in_thread, _downgrade, url, "0004")
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "billed_messages" not in tables
        assert "usage" in tables
        await asyncio.to_thread(in_thread, migrate, url)


@asynccontextmanager
async def _upgraded_with_usage(
    url: str, revision: str, *, cost_column: str, cost: float
) -> AsyncIterator[Database]:
    """The database migrated to `revision`, given a usage row there (user `u`, model `m`, 2026-03-02:
    3 requests, 100 + 50 tokens, `cost` in `cost_column`), then migrated to the head."""
    await asyncio.to_thread(in_thread, migrate, url, revision)
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO usage (user_id, model, day, requests, prompt_tokens, completion_tokens, "
                    f"{cost_column}) VALUES ('u', 'm', '2026-03-02', 3, 100, 50, :cost)"
                ),
                {"cost": cost},
            )
        await asyncio.to_thread(in_thread, migrate, url)
        yield db
    finally:
        await db.close()


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
