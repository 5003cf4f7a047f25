"""The usage consumer while the database does not answer, on the real RabbitMQ and
PostgreSQL: a `completion.finished` is held and retried with backoff (not handed back to
the queue for an instant redelivery, which spun hundreds of times a second), then
counted exactly once when the database is back. A REST call meanwhile is a 503."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aio_pika
import httpx

from parley_auth.adapters.passwords import Argon2Hasher
from parley_auth.adapters.repository import Database, Repository
from parley_auth.bootstrap import bootstrap
from parley_auth.entrypoints.app import create_app
from parley_contracts import CompletionFinished, Usage
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.rabbit import declare_exchange
from tests.integration.conftest import Api, User, login, make_settings


class OutageDatabase(Database):
    """The real database, whose transactions fail as a stopped server's do while `down`."""

    down = False
    refused = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        if self.down:
            self.refused += 1
            raise ConnectionRefusedError(111, "Connection refused (the test's outage)")
        async with super().transaction() as repo:
            yield repo


async def _publish(amqp_url: str, event: CompletionFinished) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        exchange = await declare_exchange(await connection.channel(), CHAT_EVENTS)
        message = aio_pika.Message(
            event.to_json(), content_type="application/json", message_id=str(event.event_id)
        )
        await exchange.publish(message, routing_key=event.type)


async def _until(check: Callable[[], bool], *, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


def _handled(api: Api, outcome: str) -> float:
    value = api.auth.metrics.registry.get_sample_value(
        "parley_auth_events_handled_total", {"outcome": outcome}
    )
    return value or 0.0


async def _usage(user: User) -> list[tuple[int, int, int]]:
    rows = (await user.http.get("/api/auth/me/usage", headers=user.headers)).json()["usage"]
    return [(r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows]


async def test_a_completion_is_held_while_the_database_is_down_then_counted_once(
    postgres_url: str, amqp_url: str, hasher: Argon2Hasher
) -> None:
    settings = make_settings(postgres_url, amqp_url, store_retry_initial_s=0.05, store_retry_max_s=0.4)
    db = OutageDatabase(settings.database_url)
    auth = bootstrap(settings, hasher=hasher, db=db)
    app = create_app(settings, auth=auth)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as http,
    ):
        api = Api(app, auth, http)
        alice = await login(api, await api.register(name="Alice"))
        event = CompletionFinished(
            user_id=alice.id,
            conversation_id=uuid.uuid4(),
            message_id=uuid.uuid4(),
            model="m1",
            text="held",
            finish_reason="stop",
            usage=Usage(prompt_tokens=100, completion_tokens=50),
        )
        try:
            db.down = True
            await _publish(amqp_url, event)
            await _until(lambda: db.refused >= 3, within_s=10)
            me = await alice.http.get("/api/auth/me", headers=alice.headers)
            assert me.status_code == 503, me.text  # a clear retry-later, not a 500
            assert me.headers["retry-after"]
            held_from, refused_from = time.monotonic(), db.refused
            await asyncio.sleep(1.5)  # an outage's worth of backoff to count
            attempts = db.refused - refused_from
            held_s = time.monotonic() - held_from
            retries = auth.metrics.registry.get_sample_value("parley_auth_store_retries_total")
            db.down = False

            await _until(lambda: _handled(api, "counted") == 1, within_s=10)
            assert await _usage(alice) == [(1, 100, 50)]
            await _publish(amqp_url, event)  # the same event again: counted once
            await _until(lambda: _handled(api, "duplicate") == 1, within_s=10)
            assert await _usage(alice) == [(1, 100, 50)]
        finally:
            await alice.http.aclose()
    # Backing off to 0.4 s: a handful of attempts in 1.5 s; an instant requeue made hundreds.
    assert 1 <= attempts <= 10, f"{attempts} attempts in {held_s:.1f} s of outage"
    assert retries is not None
    assert retries >= 3
