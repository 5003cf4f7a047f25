"""Engines and migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from parley_history.settings import async_database_url

MIGRATIONS_ENV = "PARLEY_HISTORY_MIGRATIONS_DIR"


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    url = async_database_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=pool_size, pool_pre_ping=True, pool_recycle=1800)


def migrations_dir() -> Path:
    """`migrations/` beside `src/` (the service directory), or `$PARLEY_HISTORY_MIGRATIONS_DIR`."""
    configured = os.environ.get(MIGRATIONS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", async_database_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (blocking: call it from a thread inside a running loop)."""
    command.upgrade(alembic_config(url), revision)
