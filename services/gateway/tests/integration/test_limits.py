"""Per-user limits across two gateway processes on one broker: a user's sockets on
both share one generation limit and one prompt rate (the test gateways allow 2
running generations and 5 prompts a minute); another user is not affected."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import aio_pika

from parley_contracts import CompletionFinished, Usage
from parley_contracts.topology import CHAT_EVENTS, prompt_headers
from parley_platform.rabbit import declare_exchange
from tests.integration.client import Client
from tests.integration.conftest import GatewayProcess
from tests.integration.test_quota import NOBODY_SERVES, publish
from tests.integration.worker import FakeWorker, Generation

PROPAGATION_S = 0.2
"""Ample time for a prompt accepted by one gateway to reach the other (about a millisecond)."""


async def _accepted(client: Client, model: str, request_id: str) -> str:
    frame = await client.prompt(model, request_id=request_id)
    assert (frame["type"], frame["request_id"]) == ("accepted", request_id), frame
    await asyncio.sleep(PROPAGATION_S)
    return str(frame["message_id"])


async def _refused(client: Client, model: str, request_id: str) -> str:
    frame = await client.prompt(model, request_id=request_id)
    assert (frame["type"], frame["request_id"]) == ("error", request_id), frame
    return str(frame["code"])


async def _end(worker: FakeWorker, gen: Generation, client: Client, amqp_url: str) -> None:
    """The worker's two ends of a generation: the stream's last frame, then the outcome event."""
    await worker.finish(gen)
    await client.expect("done")
    request = gen.request
    await publish(
        amqp_url,
        CompletionFinished(
            user_id=request.user_id,
            conversation_id=request.conversation_id,
            message_id=request.message_id,
            model=request.model,
            text=gen.text,
            finish_reason="stop",
            usage=Usage(),
        ),
    )
    await asyncio.sleep(PROPAGATION_S)


async def test_a_users_sockets_on_two_gateways_share_one_generation_limit_and_one_rate(
    on_both_gateways: list[Client],
    gateway_b: GatewayProcess,
    worker: FakeWorker,
    connect: Any,
    keyring: Any,
    user: str,
    amqp_url: str,
) -> None:
    model = worker.model
    on_a, on_b = on_both_gateways
    other = await connect(gateway_b)
    await other.hello(keyring.token(f"{user}-other"))

    await _accepted(on_a, model, "a1")
    await _accepted(on_b, model, "b1")
    # Two running, one accepted by each gateway: both gateways refuse a third.
    assert await _refused(on_a, model, "a2") == "too_many_generations"
    assert await _refused(on_b, model, "b2") == "too_many_generations"
    await _accepted(other, model, "other-1")
    a1, b1, other_1 = [await worker.next_request() for _ in range(3)]
    assert worker.requests.empty()

    # A generation accepted by gateway A ends: gateway B lets go of its slot too.
    await _end(worker, a1, on_a, amqp_url)
    await _accepted(on_b, model, "b3")
    assert await _refused(on_a, model, "a4") == "too_many_generations"
    b3 = await worker.next_request()
    for gen, client in ((b1, on_b), (b3, on_b), (other_1, other)):
        await _end(worker, gen, client, amqp_url)

    # Prompts 4 and 5 of this minute, one on each gateway; then both refuse the sixth.
    for client, request_id in ((on_a, "a5"), (on_b, "b5")):
        await _accepted(client, model, request_id)
        await _end(worker, await worker.next_request(), client, amqp_url)
    assert await _refused(on_a, model, "a6") == "rate_limited"
    assert await _refused(on_b, model, "b6") == "rate_limited"
    assert worker.requests.empty()
    await _accepted(other, model, "other-2")
    assert (await worker.next_request()).request.user_id == f"{user}-other"


async def test_a_prompt_counts_from_its_headers_and_its_body_is_never_decoded(
    on_both_gateways: list[Client], worker: FakeWorker, user: str, amqp_url: str
) -> None:
    clients = on_both_gateways
    elsewhere = uuid4()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        exchange = await declare_exchange(await connection.channel(), CHAT_EVENTS)
        # Not JSON, and as large as a prompt gets: a gateway that parsed it would fail to count it.
        body = b"{" + b"x" * (256 * 1024)
        headers = prompt_headers(NOBODY_SERVES, user_id=user, message_id=elsewhere)
        message = aio_pika.Message(body, headers=headers, content_type="application/json")
        await exchange.publish(message, routing_key="prompt.submitted")
    await asyncio.sleep(PROPAGATION_S)
    # It holds one of the user's two slots on both gateways.
    await _accepted(clients[0], worker.model, "a")
    for client in clients:
        assert await _refused(client, worker.model, "over") == "too_many_generations"
    await _end(worker, await worker.next_request(), clients[0], amqp_url)
