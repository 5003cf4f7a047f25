"""Who sent an event, on the real broker. Every service may publish straight into a gateway's
private queue through the default exchange; where each has a broker user of its own
(`PARLEY_BROKER_USERS`), the gateway believes an event only from a service that publishes its
type, and RabbitMQ makes sure a message's `user_id` is the user that published it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from aio_pika.exceptions import ChannelPreconditionFailed
from faststream.rabbit import RabbitBroker, RabbitQueue, RabbitResponse

from parley_contracts import DomainEvent, QuotaExceeded
from parley_contracts.access import ACCESS_REQUESTS, RecentAccessChanges
from parley_contracts.senders import broker_user
from parley_testkit import FakeProvider, vhost_user
from tests.fakes import access_changed
from tests.integration.conftest import GatewayProcess, KeyRing, spawn_gateway
from tests.integration.test_quota import refusal, until_code


@dataclass(frozen=True)
class Users:
    """AMQP URLs on the test vhost, each with a broker user of its own."""

    auth: str
    impostor: str
    """History's: a service that may publish, but no quota event and no access change."""


@pytest.fixture(scope="module")
def users(amqp_url: str) -> Iterator[Users]:
    with (
        vhost_user(amqp_url, "parley-test-auth") as auth,
        vhost_user(amqp_url, "parley-test-history") as impostor,
    ):
        yield Users(auth, impostor)


def spawn_checking_gateway(amqp_url: str, jwks_url: str, users: Users) -> GatewayProcess:
    """A gateway (on `amqp_url`'s user) told each service's broker user; no worker has one here."""
    setting = (
        f"auth={broker_user(users.auth)},gateway={broker_user(amqp_url)},"
        f"history={broker_user(users.impostor)},inference=parley-test-nobody"
    )
    return spawn_gateway("gateway-senders", amqp_url, jwks_url, PARLEY_BROKER_USERS=setting)


async def started(gateway: GatewayProcess) -> str:
    """Its instance id, once it is ready: its private queues are `gateway.<id>.*`."""
    await asyncio.to_thread(gateway.process.wait_ready, f"{gateway.ops_url}/readyz", timeout=30)
    match = re.search(r"gateway ([0-9a-f]+) ready", gateway.process.log_text())
    assert match is not None
    return match.group(1)


async def logged(gateway: GatewayProcess, line: str, times: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while gateway.process.log_text().count(line) < times:
        assert time.monotonic() < deadline, f"{line!r} not logged {times} time(s)"
        await asyncio.sleep(0.05)


async def publish_into(amqp_url: str, queue: str, event: DomainEvent, *, user_id: str | None) -> None:
    """`event` straight into `queue` through the default exchange, as the user of `amqp_url`."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        message = aio_pika.Message(
            event.to_json(), content_type="application/json", type=event.type, user_id=user_id
        )
        await channel.default_exchange.publish(message, routing_key=queue, mandatory=True)


async def test_a_quota_event_put_in_the_gateways_queue_counts_from_auth_only(
    users: Users, amqp_url: str, jwks_server: FakeProvider, keyring: KeyRing, user: str, connect: Any
) -> None:
    gateway = spawn_checking_gateway(amqp_url, jwks_server.jwks_url, users)
    try:
        quota_queue = f"gateway.{await started(gateway)}.quota"
        client = await connect(gateway)
        await client.hello(keyring.token(user))
        exceeded = QuotaExceeded(user_id=user, quota="tokens/day", limit=100, used=130)
        # The broker refuses a message that names a user other than its publisher...
        with pytest.raises(ChannelPreconditionFailed):
            await publish_into(users.impostor, quota_queue, exceeded, user_id=broker_user(users.auth))
        # ...so the impostor's event names the impostor, or nobody: both are dropped.
        await publish_into(users.impostor, quota_queue, exceeded, user_id=broker_user(users.impostor))
        await publish_into(users.impostor, quota_queue, exceeded, user_id=None)
        await logged(gateway, "dropping a forged message on quota events", times=2)
        assert await refusal(client, "after-forgeries") == "model_unavailable"
        await client.ping()
        await publish_into(users.auth, quota_queue, exceeded, user_id=broker_user(users.auth))
        await until_code(client, "quota_exceeded", timeout=2.0)
    finally:
        gateway.process.terminate()


async def test_an_answer_on_access_requests_counts_from_auth_only(
    users: Users, amqp_url: str, jwks_server: FakeProvider, keyring: KeyRing, user: str, connect: Any
) -> None:
    disabled = access_changed(user, disabled=True, cut=datetime.now(UTC))
    answer = RecentAccessChanges(changes=(disabled,)).model_dump_json().encode()
    impostor = RabbitBroker(users.impostor, logger=None)

    @impostor.subscriber(RabbitQueue(ACCESS_REQUESTS, durable=True))
    async def answer_as_auth(_body: bytes) -> RabbitResponse:
        return RabbitResponse(answer, content_type="application/json", user_id=broker_user(users.impostor))

    async with impostor:
        await impostor.start()
        gateway = spawn_checking_gateway(amqp_url, jwks_server.jwks_url, users)
        try:
            await started(gateway)
            await logged(gateway, f"dropping a forged message on {ACCESS_REQUESTS} answers", times=1)
            await (await connect(gateway)).hello(keyring.token(user))  # not disabled
        finally:
            gateway.process.terminate()
