"""Migration 0004 keeps the usage ledger's costs: a float `cost` becomes exact nano-units."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from sqlalchemy import text

from parley_auth.__main__ import migrate
from parley_auth.adapters.repository import Database
from tests.conftest import in_thread


async def test_costs_survive_the_move_to_nano_units(tmp_path: Path) -> None:
    """On SQLite (a `make dev` install), where the column moves through a table copy."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    await asyncio.to_thread(in_thread, migrate, url, "0003")
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO usage (user_id, model, day, requests, prompt_tokens, "
                    "completion_tokens, cost) VALUES ('u', 'm', '2026-03-02', 3, 100, 50, 0.0004548)"
                )
            )
        await asyncio.to_thread(in_thread, migrate, url)
        async with db.transaction() as repo:
            [row] = await repo.usage(user_id="u", since=None, until=None, limit=10)
        assert (row.day, row.requests, row.cost_nanos, row.cost) == (date(2026, 3, 2), 3, 454_800, 0.0004548)
    finally:
        await db.close()
