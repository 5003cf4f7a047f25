"""Broker fixtures: a fresh vhost, a publisher of contract events, the consumer
running in-process against a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import aio_pika
import httpx
import pytest

from parley_contracts import DomainEvent
from parley_contracts.topology import AUDIT_EVENTS, CHAT_EVENTS
from parley_history.adapters.metrics import HistoryMetrics
from parley_history.adapters.rabbit import RabbitPublisher
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.bootstrap import History, bootstrap
from parley_history.entrypoints.app import create_app
from parley_history.entrypoints.consumers import EventConsumer
from parley_history.settings import Settings
from parley_platform.rabbit import declare
from parley_testkit import FakeProvider, TestIssuer, amqp_url_from_env, isolated_vhost
from tests.conftest import sql_store
from tests.fakes import FakePublisher


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with isolated_vhost(amqp_url_from_env(), prefix="parley-history-test") as url:
        yield url


@dataclass
class Broker:
    """Publishes like the gateway and the workers do: `chat.events`, routing key = type."""

    channel: aio_pika.abc.AbstractChannel
    exchange: aio_pika.abc.AbstractExchange

    async def publish(self, *events: DomainEvent) -> None:
        for event in events:
            await self.publish_raw(event.to_json(), event.type)

    async def publish_raw(self, body: bytes, routing_key: str) -> None:
        await self.exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=routing_key
        )


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    await declare(channel, AUDIT_EVENTS)
    exchange = await channel.get_exchange(CHAT_EVENTS.name)
    yield Broker(channel, exchange)
    await connection.close()


@pytest.fixture
async def purged(amqp_url: str) -> None:
    """The shared queues start empty (and the stream is recreated) for each test."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    for name in ("history.events", "history.dead", "audit.events"):
        await channel.queue_delete(name)
    await declare(channel, AUDIT_EVENTS)
    await connection.close()


def history_settings(amqp_url: str, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "AMQP_URL": amqp_url,
        "database_url": database_url,
        "retry_initial_s": 0.05,
        "retry_max_s": 0.5,
        "reconnect_interval_s": 0.2,
        **overrides,
    }
    return Settings.model_validate(values)


@dataclass
class Running:
    settings: Settings
    store: SqlHistoryStore
    consumer: EventConsumer
    metrics: HistoryMetrics
    publisher: RabbitPublisher

    async def wait_for(self, predicate: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.05)

    async def wait_events(self, count: int, timeout: float = 20) -> None:
        async def enough() -> bool:
            return await self.store.event_count() >= count

        await self.wait_for(enough, timeout)


@contextlib.asynccontextmanager
async def consuming(
    amqp_url: str, pg_url: str, store: SqlHistoryStore | None = None, **overrides: object
) -> AsyncIterator[Running]:
    """The consumer running in-process on `store` (by default a new one on `pg_url`)."""
    settings = history_settings(amqp_url, pg_url, **overrides)
    store = store or sql_store(pg_url)
    metrics = HistoryMetrics()
    publisher = RabbitPublisher(amqp_url)
    consumer = EventConsumer(settings, store=store, publisher=publisher, metrics=metrics)
    task = asyncio.create_task(consumer.run())
    deadline = time.monotonic() + 10
    while not consumer.connected:
        assert time.monotonic() < deadline, "consumer did not connect"
        assert not task.done(), task
        await asyncio.sleep(0.02)
    try:
        yield Running(settings, store, consumer, metrics, publisher)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=10)
        await publisher.close()
        await store.close()


@pytest.fixture
async def running(amqp_url: str, pg_url: str, purged: None) -> AsyncIterator[Running]:
    async with consuming(amqp_url, pg_url) as started:
        yield started


# -- the REST API over ASGI, tokens checked against a JWKS served over real HTTP ----

ISSUER, AUDIENCE = "parley-test-auth", "parley-test"


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer(issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="module")
def jwks(issuer: TestIssuer) -> Iterator[FakeProvider]:
    provider = FakeProvider(issuer=issuer)
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
async def history(db_url: str, jwks: FakeProvider, amqp_url: str) -> AsyncIterator[History]:
    settings = history_settings(
        amqp_url, db_url, jwks_url=jwks.jwks_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, consumer=False
    )
    history = bootstrap(settings, store=sql_store(db_url), publisher=FakePublisher())
    yield history
    await history.close()


@pytest.fixture
async def client(history: History) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(history.settings, history=history)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://history") as client:
        yield client


def auth(issuer: TestIssuer, user: str, role: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(user, role=role)}"}
