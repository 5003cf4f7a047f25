"""Shared fixtures: uvloop, fresh PostgreSQL databases (from a migrated template),
SQLite files, and a store on either."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import uvloop

from parley_history.adapters.database import make_engine, migrate
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.domain.audit import AuditKey

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AUDIT_SECRET = "parley-history-tests-audit-key-0123456789"
"""PARLEY_HISTORY_AUDIT_KEY of the processes the tests start."""
AUDIT_KEY = AuditKey(AUDIT_SECRET.encode())


def sql_store(url: str) -> SqlHistoryStore:
    """A store on `url` that signs the audit rows it appends, as the service's does."""
    return SqlHistoryStore(make_engine(url), audit_key=AUDIT_KEY)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Any]:
    return {"uvloop": uvloop.new_event_loop}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid.split("::")[0]:
            item.add_marker(pytest.mark.integration)


def _admin_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL).replace("+asyncpg", "")


def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_admin_url())
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


class Databases:
    """Creates `parley_history_test_<hex>` databases from a migrated template; drops them all at the end."""

    def __init__(self) -> None:
        self.prefix = f"parley_history_test_{secrets.token_hex(4)}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return _with_db(_admin_url(), name)

    async def fresh(self, *, migrated: bool = True) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        self.created.append(name)
        template = f" TEMPLATE {self.template}" if migrated else ""
        await _admin(f"CREATE DATABASE {name}{template}")
        return self.url(name)


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    dbs = Databases()
    uvloop.run(_admin(f"CREATE DATABASE {dbs.template}"))
    try:
        migrate(dbs.url(dbs.template))
        yield dbs
    finally:
        for name in [*dbs.created, dbs.template]:
            uvloop.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def pg_url(databases: Databases) -> str:
    return await databases.fresh()


@pytest.fixture(params=["postgresql", "sqlite"])
async def db_url(request: pytest.FixtureRequest, databases: Databases, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return await databases.fresh()
    url = f"sqlite:///{tmp_path / 'history.db'}"
    await asyncio.to_thread(migrate, url)
    return url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlHistoryStore]:
    store = sql_store(db_url)
    yield store
    await store.close()


@pytest.fixture
async def stores() -> AsyncIterator[list[SqlHistoryStore]]:
    """Stores a test opens itself (append them); closed at the end."""
    opened: list[SqlHistoryStore] = []
    yield opened
    for store in opened:
        await store.close()
