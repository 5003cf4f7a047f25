"""Events from a broker user that does not publish their type are dropped (`PARLEY_BROKER_USERS`):
any service may publish to a queue by name through the default exchange, so the usage ledger
believes a `completion.finished` only when RabbitMQ says an inference worker sent it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from parley_auth.settings import Settings
from parley_contracts import CompletionFinished
from parley_contracts.senders import broker_user
from parley_contracts.topology import AUTH_USAGE, CHAT_EVENTS
from parley_testkit import publish_as, vhost_user
from tests.integration.conftest import Api, User, make_settings
from tests.integration.test_usage import _ledger, finished


@pytest.fixture(scope="module")
def inference_url(amqp_url: str) -> Iterator[str]:
    with vhost_user(amqp_url, "parley-auth-test-inference") as url:
        yield url


@pytest.fixture(scope="module")
def gateway_url(amqp_url: str) -> Iterator[str]:
    with vhost_user(amqp_url, "parley-auth-test-gateway") as url:
        yield url


@pytest.fixture
async def settings(
    postgres_url: str, amqp_url: str, inference_url: str, gateway_url: str
) -> AsyncIterator[Settings]:
    users = {
        "auth": broker_user(amqp_url),
        "gateway": broker_user(gateway_url),
        "history": "parley-history-nobody",
        "inference": broker_user(inference_url),
    }
    yield make_settings(postgres_url, amqp_url, broker_users=",".join(f"{s}={u}" for s, u in users.items()))


async def publish(url: str, event: CompletionFinished, *, by_queue_name: bool) -> None:
    if by_queue_name:
        await publish_as(url, event.to_json(), routing_key=AUTH_USAGE.name)
    else:
        await publish_as(url, event.to_json(), exchange=CHAT_EVENTS.name, routing_key=event.type)


async def publish_unsigned(url: str, event: CompletionFinished) -> None:
    """Into auth's queue by name with no `user_id`: no sender named at all."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        message = aio_pika.Message(event.to_json(), content_type="application/json")
        await channel.default_exchange.publish(message, routing_key=AUTH_USAGE.name)


async def test_a_completion_forged_by_another_service_is_not_billed(
    api: Api, admin: User, alice: User, gateway_url: str, inference_url: str
) -> None:
    await publish(gateway_url, finished(alice.id, 500, 500), by_queue_name=True)
    await publish(gateway_url, finished(alice.id, 400, 400), by_queue_name=False)
    await publish_unsigned(inference_url, finished(alice.id, 300, 300))
    await publish(inference_url, finished(alice.id, 10, 5), by_queue_name=False)
    rows = await _ledger(admin, alice.id, requests=1)
    await asyncio.sleep(0.3)  # give a wrongly billed event the time to show
    rows = await _ledger(admin, alice.id, requests=1)
    assert [(r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(1, 10, 5)]
    assert api.auth.metrics.events.labels("unsupported")._value.get() >= 3
