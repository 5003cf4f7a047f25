"""Quotas on the real broker: a `quota.exceeded` on `chat.events` blocks the
user's prompts on every gateway within a second; `quota.restored` lifts it."""

from __future__ import annotations

import time
from typing import Any

import aio_pika

from parley_contracts import DomainEvent, QuotaExceeded, QuotaRestored
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.rabbit import declare_exchange
from tests.integration.client import Client
from tests.integration.conftest import GatewayProcess
from tests.integration.worker import FakeWorker

NOBODY_SERVES = "no-such-model"


async def publish(amqp_url: str, event: DomainEvent) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, CHAT_EVENTS)
        await exchange.publish(aio_pika.Message(event.to_json(), content_type="application/json"), event.type)


async def refusal(client: Client, request_id: str) -> str:
    """The code a prompt for a model nobody serves gets: the quota is checked first."""
    error = await client.prompt(NOBODY_SERVES, request_id=request_id)
    assert error["type"] == "error", error
    assert error["request_id"] == request_id
    return str(error["code"])


async def until_code(client: Client, code: str, timeout: float) -> float:
    started = time.monotonic()
    attempt = 0
    while (got := await refusal(client, f"probe-{attempt}")) != code:
        attempt += 1
        assert time.monotonic() - started < timeout, f"still {got} after {timeout} s"
    return time.monotonic() - started


async def test_a_user_over_quota_is_refused_on_every_gateway_until_restored(
    on_both_gateways: list[Client],
    gateway_a: GatewayProcess,
    connect: Any,
    worker: FakeWorker,
    amqp_url: str,
    keyring: Any,
    user: str,
) -> None:
    clients = on_both_gateways
    other = await connect(gateway_a)
    await other.hello(keyring.token(f"{user}-other"))
    assert await refusal(clients[0], "before") == "model_unavailable"

    await publish(amqp_url, QuotaExceeded(user_id=user, quota="tokens/day", limit=100, used=130))
    for client in clients:
        assert await until_code(client, "quota_exceeded", timeout=1.0) < 1.0
        error = await client.prompt(worker.model, request_id="blocked")
        assert (error["type"], error["code"], error["request_id"]) == ("error", "quota_exceeded", "blocked")
        assert "budget" in error["message"]
        await client.ping()  # the socket stays open
    assert worker.requests.empty()  # nothing was published
    assert (await other.prompt(worker.model, request_id="fine"))["type"] == "accepted"
    fine = await worker.next_request()
    assert fine.request.user_id == f"{user}-other"
    await worker.finish(fine)

    await publish(
        amqp_url, QuotaRestored(user_id=user, quota="tokens/day", limit=100, used=0, reason="budget_raised")
    )
    for client in clients:
        await until_code(client, "model_unavailable", timeout=1.0)
    accepted = await clients[0].prompt(worker.model, request_id="again")
    assert accepted["type"] == "accepted", accepted
    again = await worker.next_request()
    assert again.request.user_id == user
    await worker.finish(again)
    metrics = (await gateway_a.ops("/metrics")).text
    assert 'parley_gateway_prompts_total{outcome="quota_exceeded"}' in metrics
