"""The audit log against its own database's users, on the real PostgreSQL: the runtime role
(PARLEY_HISTORY_RUNTIME_ROLE) can append to it but not change, empty or unguard it, and still
does all the service's work; the owner can change anything, but not re-sign what it changed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from parley_history.adapters.database import migrate
from parley_history.domain.audit import ChainReport, record_hash
from tests.conftest import AUDIT_SECRET, Databases, _admin, _admin_url, sql_store
from tests.events import finished, prompt
from tests.integration.conftest import Broker, consuming


@dataclass
class Roles:
    owner: str
    runtime: str
    owner_url: str
    runtime_url: str


@pytest.fixture
async def roles(databases: Databases) -> AsyncIterator[Roles]:
    """A database owned by its own role, migrated by it, granting a second role at runtime."""
    owner, runtime, name = (f"{databases.prefix}_{suffix}" for suffix in ("owner", "runtime", "roles"))
    await _admin(f"CREATE ROLE {owner} LOGIN")
    await _admin(f"CREATE ROLE {runtime} LOGIN")
    await _admin(f"CREATE DATABASE {name} OWNER {owner}")
    admin = make_url(_admin_url())

    def as_role(role: str) -> str:
        return admin.set(username=role, password=None, database=name).render_as_string(hide_password=False)

    try:
        await asyncio.to_thread(migrate, as_role(owner), runtime_role=runtime)
        yield Roles(owner, runtime, as_role(owner), as_role(runtime))
    finally:
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await _admin(f"DROP ROLE IF EXISTS {runtime}")
        await _admin(f"DROP ROLE IF EXISTS {owner}")


async def _refused(url: str, sql: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
            await connection.execute(sql)
    finally:
        await connection.close()
    return str(refused.value)


async def test_the_runtime_role_appends_to_the_audit_log_and_cannot_change_it(
    roles: Roles, amqp_url: str, broker: Broker, purged: None
) -> None:
    store = sql_store(roles.runtime_url)
    async with consuming(amqp_url, roles.runtime_url, store) as running:
        asked = prompt("alice", "Least privilege?")
        await broker.publish(asked, finished(asked, "Yes."))
        await running.wait_events(3)  # with the title request it published, which comes back
        page = await running.store.list_conversations("alice", query="privilege", limit=10, cursor=None)
        assert [item.id for item in page.items] == [asked.conversation_id]
        assert await running.store.verify() == ChainReport(3, None)

    for sql in (
        "UPDATE audit_log SET user_id = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "DROP TABLE audit_log",
        "CREATE TRIGGER t AFTER INSERT ON audit_log EXECUTE FUNCTION audit_log_append_only()",
        "SET session_replication_role = replica",
        "UPDATE alembic_version SET version_num = '0001'",
    ):
        reason = await _refused(roles.runtime_url, sql)
        assert "permission denied" in reason or "must be owner" in reason, (sql, reason)

    # Migrating again (a later release) keeps the grants exactly so; the owner itself, or a
    # member of it, is no runtime role.
    await asyncio.to_thread(migrate, roles.owner_url, runtime_role=roles.runtime)
    with pytest.raises(RuntimeError, match="owner or a member of it"):
        await asyncio.to_thread(migrate, roles.owner_url, runtime_role=roles.owner)
    assert "permission denied" in await _refused(roles.runtime_url, "DELETE FROM audit_log")
    assert (await store.verify()).broken is None


async def test_the_owner_cannot_rewrite_the_chain_unnoticed(
    roles: Roles, amqp_url: str, broker: Broker, purged: None
) -> None:
    store = sql_store(roles.runtime_url)
    events = [prompt("alice", f"q{i}") for i in range(4)]
    async with consuming(amqp_url, roles.runtime_url, store) as running:
        await broker.publish(*events)
        await running.wait_events(4)

    # As the owner: unguard the table, rewrite row 2, recompute every plain hash after it and
    # the head, guard it again. Only the signatures, which need the key, cannot follow.
    records = [record async for record in store.audit_records()]
    forged, prev = [], records[0].hash
    for original in records[1:]:
        body = original.body.replace("q1", "q9") if original.seq == 2 else original.body
        relinked = replace(original, body=body, prev_hash=prev)
        forged.append(replace(relinked, hash=record_hash(relinked)))
        prev = forged[-1].hash
    owner = sql_store(roles.owner_url)
    try:
        async with owner.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            for record in forged:
                await connection.execute(
                    text(
                        "UPDATE audit_log SET body = :body, prev_hash = :prev, hash = :hash WHERE seq = :seq"
                    ),
                    {"body": record.body, "prev": record.prev_hash, "hash": record.hash, "seq": record.seq},
                )
            await connection.execute(text("UPDATE audit_head SET hash = :hash"), {"hash": prev})
            await connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        unkeyed = sql_store(roles.owner_url)
        unkeyed.audit_key = None
        try:
            assert (await unkeyed.verify()).broken is not None  # signed rows need the key
        finally:
            await unkeyed.close()
        report = await owner.verify()
    finally:
        await owner.close()
        await store.close()
    assert report.checked == 1
    assert report.broken is not None
    assert (report.broken.seq, report.broken.event_id) == (2, events[1].event_id)
    assert "signature does not match" in report.broken.reason

    env = {
        **os.environ,
        "PARLEY_HISTORY_DATABASE_URL": roles.runtime_url,
        "PARLEY_HISTORY_AUDIT_KEY": AUDIT_SECRET,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "parley_history", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN after 1 good row(s)" in done.stderr
    assert "signature does not match" in done.stderr
