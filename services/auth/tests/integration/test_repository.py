"""The repository on both backends (PostgreSQL and SQLite), and the first-account rule."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime

from parley_auth.adapters.orm import UserRow
from parley_auth.adapters.passwords import Argon2Hasher
from parley_auth.adapters.repository import Database, Repository
from parley_auth.domain.errors import Conflict
from tests.integration.conftest import make_settings, start_api


def _user(email: str) -> UserRow:
    now = datetime.now(UTC)
    return UserRow(
        email=email, email_norm=email.lower(), display_name="x", password_hash="h", role="user",
        disabled=False, preferences={}, created_at=now, updated_at=now,
    )  # fmt: skip


async def _add_usage(
    repo: Repository, user_id: str, *, prompt_tokens: int, completion_tokens: int, cost_nanos: int
) -> None:
    """One request of model `m` on 2026-01-02."""
    await repo.add_usage(
        user_id=user_id,
        model="m",
        day=date(2026, 1, 2),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_nanos=cost_nanos,
    )


async def test_unique_email_and_lookup(database: Database) -> None:
    email = f"r-{secrets.token_hex(4)}@parley.dev"
    async with database.transaction() as repo:
        await repo.add_user(_user(email))
    try:
        async with database.transaction() as repo:
            await repo.add_user(_user(email))
        raise AssertionError("duplicate accepted")
    except Conflict:
        pass
    async with database.transaction() as repo:
        found = await repo.user_by_email(email)
        assert found is not None
        assert found.created_at.tzinfo is not None
        rows, total = await repo.users(query=email.upper(), limit=10, offset=0)
        assert total == 1
        assert rows[0].id == found.id


async def test_usage_upsert_and_idempotency(database: Database) -> None:
    user = f"u-{secrets.token_hex(4)}"
    event_id = uuid.uuid4()
    now = datetime.now(UTC)
    for _ in range(2):
        async with database.transaction() as repo:
            if await repo.mark_processed(event_id, now):
                await _add_usage(repo, user, prompt_tokens=3, completion_tokens=4, cost_nanos=500_000_000)
    async with database.transaction() as repo:
        await _add_usage(repo, user, prompt_tokens=1, completion_tokens=1, cost_nanos=250_000_000)
    async with database.transaction() as repo:
        rows = await repo.usage(user_id=user, since=None, until=None, limit=10)
        assert [(r.requests, r.prompt_tokens, r.completion_tokens, r.cost) for r in rows] == [(2, 4, 5, 0.75)]
        assert await repo.tokens_used(user, date(2026, 1, 1)) == 9
        assert await repo.tokens_used(user, date(2026, 1, 3)) == 0


async def test_first_account_is_admin_on_sqlite(
    tmp_path: object, amqp_url: str, hasher: Argon2Hasher
) -> None:
    from parley_auth.__main__ import migrate
    from tests.conftest import in_thread

    url = f"sqlite+aiosqlite:///{tmp_path}/first.db"
    in_thread(migrate, url)
    settings = make_settings(url, amqp_url, dev=True, admin_email=None)
    async for api in start_api(settings, hasher):
        first = await api.register()
        second = await api.register()
        async with api.auth.db.transaction() as repo:
            roles = [(await repo.user_by_email(e)).role for e in (first, second)]  # type: ignore[union-attr]
        assert roles == ["admin", "user"]
