"""With `PARLEY_BROKER_USERS` set, a worker takes a message only from a service that publishes
its type. Any service may put a message straight into a worker's queue by name (the default
exchange); RabbitMQ vouches for its `user_id`, so one from another service's user is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import aio_pika
import pytest
from aio_pika.exceptions import ChannelPreconditionFailed
from faststream.rabbit import RabbitBroker, RabbitResponse

from parley_contracts import Event, WorkerHeartbeat
from parley_contracts.catalog import CATALOG_REQUESTS, CatalogModel, CatalogProvider, CatalogUpdated
from parley_contracts.senders import SERVICES, Service, broker_user
from parley_inference.entrypoints.worker import Worker
from parley_testkit import FakeProvider, vhost_user
from tests.integration.client import TEST_REQUESTS, BrokerClient, make_prompt
from tests.integration.workers import StartWorker, catalogue


@dataclass(frozen=True)
class BrokerUsers:
    users: dict[Service, str]
    urls: dict[Service, str]

    @property
    def setting(self) -> str:
        return ",".join(f"{service}={user}" for service, user in self.users.items())


@dataclass(frozen=True)
class Sender:
    """A service's connection: publishes straight into a queue, as its own user."""

    channel: aio_pika.abc.AbstractChannel
    user: str

    async def into(self, queue: str, event: Event, *, user_id: str | None = None) -> None:
        message = aio_pika.Message(
            event.to_json(), content_type="application/json", user_id=user_id or self.user
        )
        await self.channel.default_exchange.publish(message, routing_key=queue)


@pytest.fixture(scope="module")
def broker_users(amqp_url: str) -> Iterator[BrokerUsers]:
    """A RabbitMQ user of its own for each service, with every right on the test vhost."""
    with contextlib.ExitStack() as users:
        urls = {
            service: users.enter_context(vhost_user(amqp_url, f"parley-test-{service}"))
            for service in SERVICES
        }
        yield BrokerUsers({service: broker_user(url) for service, url in urls.items()}, urls)


@pytest.fixture
def start_with_users(
    broker_users: BrokerUsers, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> StartWorker:
    """Workers on inference's own user, knowing every service's (stopped before the users go)."""
    monkeypatch.setenv("AMQP_URL", broker_users.urls["inference"])
    monkeypatch.setenv("PARLEY_BROKER_USERS", broker_users.setting)
    return start_worker


@pytest.fixture
async def as_service(broker_users: BrokerUsers) -> AsyncIterator[Callable[[Service], Awaitable[Sender]]]:
    connections: list[aio_pika.abc.AbstractConnection] = []

    async def connect(service: Service) -> Sender:
        connection = await aio_pika.connect(broker_users.urls[service])
        connections.append(connection)
        return Sender(await connection.channel(), broker_users.users[service])

    yield connect
    for connection in connections:
        await connection.close()


def _catalogue(revision: int, provider: FakeProvider, model: str) -> CatalogUpdated:
    local = CatalogProvider(id=uuid.uuid4(), name="local", base_url=provider.base_url)
    served = CatalogModel(id=uuid.uuid4(), name=model, provider_id=local.id, upstream="upstream-test-model")
    return catalogue(revision, local, served)


def _announced(beats: list[Event], worker_id: str) -> list[tuple[str, ...]]:
    return [b.models for b in beats if isinstance(b, WorkerHeartbeat) and b.worker_id == worker_id]


async def test_a_forged_catalogue_in_the_worker_s_queue_is_ignored_and_auth_s_applied(
    start_with_users: StartWorker,
    as_service: Callable[[Service], Awaitable[Sender]],
    client: BrokerClient,
    provider: FakeProvider,
) -> None:
    worker = await start_with_users()
    beats = await client.heartbeats()
    queue = worker.subscribers.catalog.queue.name
    gateway, auth = await as_service("gateway"), await as_service("auth")

    # The gateway cannot claim to be auth: RabbitMQ refuses the publish and closes its channel.
    with pytest.raises(ChannelPreconditionFailed):
        await gateway.into(queue, _catalogue(9, provider, "forged-model"), user_id=auth.user)
    gateway = await as_service("gateway")

    # A higher revision first: had it been applied, auth's would be ignored as older.
    await gateway.into(queue, _catalogue(7, provider, "forged-model"))
    await auth.into(queue, _catalogue(5, provider, "from-auth"))

    await beats.wait_for(lambda items: ("from-auth",) in _announced(items, worker.worker_id))
    assert worker.ports.catalog.names == ("from-auth",)
    assert all("forged-model" not in models for models in _announced(beats.items, worker.worker_id))


async def test_a_forged_prompt_in_a_requests_queue_is_not_generated(
    start_with_users: StartWorker,
    as_service: Callable[[Service], Awaitable[Sender]],
    client: BrokerClient,
    provider: FakeProvider,
) -> None:
    await start_with_users()
    session = await client.session()
    auth, history = await as_service("auth"), await as_service("history")
    forged, real = make_prompt(session, content="forged"), make_prompt(session, content="real")

    await auth.into(TEST_REQUESTS.name, forged)
    await history.into(TEST_REQUESTS.name, real)

    assert (await session.end(real.message_id)).type == "stream.finished"
    # The forged one is rejected, dead-lettered, and dropped again by `inference.dead`.
    await asyncio.sleep(0.5)
    assert session.for_message(forged.message_id) == []
    assert [r.body["messages"][-1]["content"] for r in provider.requests] == ["real"]


async def test_a_catalogue_answer_from_anyone_but_auth_is_not_applied(
    start_with_users: StartWorker, broker_users: BrokerUsers, provider: FakeProvider
) -> None:
    async def serve_as(service: Service, model: str) -> Worker:
        answerer = RabbitBroker(broker_users.urls[service])

        @answerer.subscriber(CATALOG_REQUESTS)
        async def answer(body: dict[str, object]) -> RabbitResponse:
            return RabbitResponse(
                _catalogue(3, provider, model).to_json(), user_id=broker_users.users[service]
            )

        async with answerer:
            await answerer.start()
            return await start_with_users()

    impostor = await serve_as("gateway", "forged-model")
    assert impostor.ports.catalog.names == ("test", "refused")  # its models file
    owner = await serve_as("auth", "from-auth")
    assert owner.ports.catalog.names == ("from-auth",)
