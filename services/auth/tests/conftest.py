"""Shared fixtures: a fresh PostgreSQL database per test session (dropped at
the end) and a SQLite file, both migrated with the service's own Alembic
migrations; the real Argon2id hasher with cheap parameters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from parley_auth.__main__ import migrate
from parley_auth.adapters.orm import UserRow
from parley_auth.adapters.passwords import Argon2Hasher
from parley_auth.adapters.repository import Database
from parley_platform import egress
from parley_platform.database import async_database_url
from parley_testkit import StubResolver

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def in_thread(function: Callable[..., object], *args: object) -> None:
    """Run blocking set-up (its own `asyncio.run`) even when a test's event loop is running."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(function, *args).result()


PUBLIC_TEST_ADDRESS = "203.0.113.7"
"""What made-up provider host names resolve to in these tests (a documentation address:
auth checks it, never connects to it)."""


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider hosts are resolved by a stub, never by a DNS server (tests that mean an
    internal host replace it again)."""

    monkeypatch.setattr(egress, "resolve", StubResolver({}, default=[PUBLIC_TEST_ADDRESS]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid.split("::")[0]:
            item.add_marker(pytest.mark.integration)


def _admin_dsn(url: str) -> str:
    return (
        make_url(async_database_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@contextlib.contextmanager
def fresh_postgres(prefix: str) -> Iterator[str]:
    """A new empty database `<prefix>_<hex>` on DATABASE_URL's server, dropped at the end."""
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = _admin_dsn(base)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    in_thread(asyncio.run, run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(async_database_url(base)).set(database=name).render_as_string(hide_password=False)
    finally:
        in_thread(asyncio.run, run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database `parley_auth_test_<hex>` on DATABASE_URL's server, migrated; dropped at the end."""
    with fresh_postgres("parley_auth_test") as url:
        in_thread(migrate, url)
        in_thread(asyncio.run, _seed(url))
        yield url


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet, on each backend: for the migrations' own tests."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
        return
    with fresh_postgres("parley_auth_migrations") as url:
        yield url


async def _seed(url: str) -> None:
    """A first account, so that no test's user becomes admin by being first."""
    db = Database(url)
    try:
        async with db.transaction() as repo:
            await repo.add_user(
                UserRow(
                    email="root@parley.dev", email_norm="root@parley.dev", display_name="root",
                    password_hash="!", role="admin", disabled=True, preferences={},
                    created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
                )
            )  # fmt: skip
    finally:
        await db.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("auth-db") / "auth.db"
    url = f"sqlite+aiosqlite:///{path}"
    in_thread(migrate, url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The same tests on both backends."""
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "sqlite_url")
    db = Database(url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(scope="session")
def hasher() -> Argon2Hasher:
    return Argon2Hasher(time_cost=1, memory_kib=1024, parallelism=1)
