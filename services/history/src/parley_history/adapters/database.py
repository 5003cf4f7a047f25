"""Engines and migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from parley_platform.database import async_database_url

MIGRATIONS_ENV = "PARLEY_HISTORY_MIGRATIONS_DIR"
APPEND_ONLY_TABLES = frozenset({"audit_log"})
"""Tables the runtime role may read and append to, never change."""
OWNER_ONLY_TABLES = frozenset({"alembic_version"})


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


def alembic_config(url: str, *, runtime_role: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", async_database_url(url).replace("%", "%%"))
    config.attributes["runtime_role"] = runtime_role
    return config


def migrate(url: str, revision: str = "head", *, runtime_role: str | None = None) -> None:
    """Upgrade the database at `url` as its owner, then grant `runtime_role` (if any) what the
    service needs (blocking: call it from a thread inside a running loop)."""
    command.upgrade(alembic_config(url, runtime_role=runtime_role), revision)


def grant_runtime_role(connection: Connection, role: str) -> None:
    """Make `role`'s rights on this schema's tables exactly what `serve` and `consume` need:
    SELECT and INSERT on the audit log (no UPDATE, DELETE nor TRUNCATE), SELECT, INSERT, UPDATE
    and DELETE on the others, the use of their sequences; nothing on Alembic's table. Run by the
    owner after every upgrade (PostgreSQL only), so that tables added later are covered too.
    Triggers can only be altered, disabled or dropped by the owner, which `role` must not be."""
    _refuse_powerful(connection, role)
    quote = connection.dialect.identifier_preparer.quote
    quoted = quote(role)
    schema = quote(str(connection.scalar(text("SELECT current_schema()"))))
    connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {quoted}"))
    for table in inspect(connection).get_table_names():
        name = quote(table)
        connection.execute(text(f"REVOKE ALL ON TABLE {name} FROM {quoted}"))
        if table in OWNER_ONLY_TABLES:
            continue
        rights = "SELECT, INSERT" if table in APPEND_ONLY_TABLES else "SELECT, INSERT, UPDATE, DELETE"
        connection.execute(text(f"GRANT {rights} ON TABLE {name} TO {quoted}"))
    for sequence in inspect(connection).get_sequence_names():
        name = quote(sequence)
        connection.execute(text(f"GRANT USAGE, SELECT ON SEQUENCE {name} TO {quoted}"))


def _refuse_powerful(connection: Connection, role: str) -> None:
    """A superuser, the owner or a member of it could disable the trigger: not a runtime role."""
    row = connection.execute(
        text(
            "SELECT rolsuper, pg_has_role(:role, current_user, 'MEMBER') FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role},
    ).one_or_none()
    if row is None:
        raise RuntimeError(f"PARLEY_HISTORY_RUNTIME_ROLE names no role: {role!r}")
    if row[0] or row[1]:
        raise RuntimeError(
            f"PARLEY_HISTORY_RUNTIME_ROLE {role!r} is a superuser, or the owner or a member of it: "
            "it could disable the audit log's trigger; name a role of its own"
        )
