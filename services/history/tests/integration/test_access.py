"""Account access changes: `user.access_changed` through the real RabbitMQ into the real
PostgreSQL, and the REST routes refusing the tokens it revokes (401) or demotes (403), also
after a restart; the row follows the latest change whatever order events arrive in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from parley_contracts import UserAccessChanged
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.bootstrap import History, bootstrap
from parley_history.entrypoints.app import create_app
from parley_testkit import FakeProvider, TestIssuer
from tests.conftest import sql_store
from tests.fakes import FakePublisher
from tests.integration.conftest import AUDIENCE, ISSUER, Broker, Running, history_settings

TTL = timedelta(minutes=15)
CONVERSATIONS = "/api/history/conversations"
AUDIT = "/api/history/audit/events"

Api = Callable[[], Awaitable[httpx.AsyncClient]]


def access_changed(
    user: str, at: datetime, *, disabled: bool, role: str = "user", cut: datetime | None = None
) -> UserAccessChanged:
    return UserAccessChanged(
        user_id=user,
        disabled=disabled,
        role=role,  # type: ignore[arg-type]
        tokens_not_before=cut,
        occurred_at=at,
        relevant_until=at + TTL,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(running: Running, jwks: FakeProvider, pg_url: str) -> AsyncIterator[Api]:
    """Starts an API process (no consumer) on the consumer's database; each call is a restart."""
    opened: list[tuple[httpx.AsyncClient, History]] = []

    async def start() -> httpx.AsyncClient:
        settings = history_settings(
            running.settings.amqp_url,
            pg_url,
            jwks_url=jwks.jwks_url,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            consumer=False,
        )
        history = bootstrap(settings, store=sql_store(pg_url), publisher=FakePublisher())
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, history=history)),
            base_url="http://history",
        )
        opened.append((client, history))
        return client

    yield start
    for client, history in opened:
        await client.aclose()
        await history.close()


async def until_status(client: httpx.AsyncClient, path: str, token: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 10
    while (response := await client.get(path, headers=bearer(token))).status_code != status:
        assert time.monotonic() < deadline, f"still {response.status_code}: {response.text}"
        await asyncio.sleep(0.05)
    return response


async def test_a_disabled_users_old_token_is_refused_until_a_new_one_after_re_enabling(
    running: Running, broker: Broker, api: Api, issuer: TestIssuer
) -> None:
    client = await api()
    old = issuer.token("alice")
    assert (await client.get(CONVERSATIONS, headers=bearer(old))).status_code == 200

    disabled_at = datetime.now(UTC)
    await broker.publish(access_changed("alice", disabled_at, disabled=True, cut=disabled_at))
    refused = await until_status(client, CONVERSATIONS, old, 401)
    assert refused.json() == {"detail": "the account is disabled"}
    assert (await client.get(CONVERSATIONS, headers=bearer(issuer.token("bob")))).status_code == 200

    enabled_at = disabled_at + timedelta(seconds=2)
    await broker.publish(access_changed("alice", enabled_at, disabled=False, cut=disabled_at))
    fresh = issuer.token("alice", issued_at=disabled_at.timestamp() + 1)
    await until_status(client, CONVERSATIONS, fresh, 200)
    refused = await client.get(CONVERSATIONS, headers=bearer(old))
    assert refused.status_code == 401
    assert "issued before the account's access changed" in refused.json()["detail"]

    restarted = await api()  # stored in the database, not in the process
    assert (await restarted.get(CONVERSATIONS, headers=bearer(old))).status_code == 401
    assert (await restarted.get(CONVERSATIONS, headers=bearer(fresh))).status_code == 200


async def test_a_demoted_admins_old_token_is_refused_on_admin_routes_only(
    running: Running, broker: Broker, api: Api, issuer: TestIssuer
) -> None:
    client = await api()
    token = issuer.token("root", role="admin")
    assert (await client.get(AUDIT, headers=bearer(token))).status_code == 200
    await broker.publish(access_changed("root", datetime.now(UTC), disabled=False, role="user"))
    refused = await until_status(client, AUDIT, token, 403)
    assert refused.json() == {"detail": "this endpoint is for admins"}
    assert (await client.get(CONVERSATIONS, headers=bearer(token))).status_code == 200


async def test_the_latest_change_wins_whatever_the_arrival_order(store: SqlHistoryStore) -> None:
    at = datetime.now(UTC)
    disabled = access_changed("carol", at, disabled=True, cut=at)
    enabled = access_changed("carol", at + timedelta(seconds=1), disabled=False, cut=at)
    for event in (enabled, disabled):
        await store.apply(event, event.to_json().decode())
    assert await store.access_change("carol") == enabled
    assert await store.access_change("dave") is None
