"""A prompt through the whole spine: WebSocket, RabbitMQ, worker, provider and back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aio_pika
import pytest
import websockets

from parley_contracts import topology
from parley_platform import rabbit
from parley_testkit import FakeProvider, Script

from .stack import MODEL, PROVIDER_READ_TIMEOUT_S, REFUSED_MODEL, Client, Stack, answer_text

TOKENS = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog."]


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    client = await Client.connect(stack.gateways[0], stack.token("alice"))
    yield client
    await client.close()


@pytest.fixture
async def outcomes(vhost_url: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of this test's own that sees every `completion.*` event."""
    connection = await aio_pika.connect_robust(vhost_url)
    channel = await connection.channel()
    exchange = await rabbit.declare_exchange(channel, topology.CHAT_EVENTS)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="completion.*")
    yield queue
    await connection.close()


async def _drain(
    queue: aio_pika.abc.AbstractQueue, count: int, timeout: float = 10
) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(events) < count and asyncio.get_running_loop().time() < deadline:
        message = await queue.get(fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        await message.ack()
        events.append(json.loads(message.body))
    return events


async def test_happy_path_frames_text_and_usage(
    stack: Stack, client: Client, provider: FakeProvider, outcomes: aio_pika.abc.AbstractQueue
) -> None:
    provider.set_script(Script(tokens=TOKENS, delay_s=0.02))
    accepted = await client.prompt("Tell me about foxes")
    assert accepted["type"] == "accepted", accepted
    message_id = accepted["message_id"]
    assert accepted["conversation_id"]

    frames = await client.until(message_id)
    kinds = [f["type"] for f in frames]
    assert kinds[-1] == "done", frames
    assert set(kinds[:-1]) == {"delta"}
    done = frames[-1]
    assert done["text"] == "".join(TOKENS) == answer_text(frames)
    assert done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == len(TOKENS)
    assert done["usage"]["prompt_tokens"] > 0
    assert done["metrics"]["ttft_ms"] > 0
    assert done["metrics"]["tokens_per_s"] > 0
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # Coalescing: fewer broker messages (delta frames) than provider tokens.
    assert len(frames) - 1 < len(TOKENS)

    request = provider.requests[0].body
    assert request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": "Tell me about foxes"}]

    [finished] = await _drain(outcomes, 1)
    assert finished["type"] == "completion.finished"
    assert finished["message_id"] == message_id
    assert finished["text"] == "".join(TOKENS)
    assert finished["worker_id"] in {"worker-1", "worker-2"}


async def test_two_workers_share_a_burst(
    stack: Stack, provider: FakeProvider, outcomes: aio_pika.abc.AbstractQueue
) -> None:
    provider.set_script(Script(tokens=TOKENS, delay_s=0.05))
    clients = [await Client.connect(stack.gateways[0], stack.token(f"user-{i}")) for i in range(8)]
    try:
        accepted = await asyncio.gather(*(c.prompt(f"question {i}") for i, c in enumerate(clients)))
        results = await asyncio.gather(
            *(c.until(a["message_id"]) for c, a in zip(clients, accepted, strict=True))
        )
    finally:
        for c in clients:
            await c.close()
    assert all(frames[-1]["type"] == "done" for frames in results)
    assert all(frames[-1]["text"] == "".join(TOKENS) for frames in results)
    workers = {event["worker_id"] for event in await _drain(outcomes, 8)}
    assert workers == {"worker-1", "worker-2"}


async def test_stop_cancels_the_provider_stream(stack: Stack, client: Client, provider: FakeProvider) -> None:
    provider.set_script(Script(tokens=[f"t{i} " for i in range(200)], delay_s=0.05))
    accepted = await client.prompt("a long answer please")
    message_id = accepted["message_id"]
    first = await client.recv()
    assert first["type"] == "delta"
    await client.send({"type": "stop", "message_id": message_id})
    stopped_at = asyncio.get_running_loop().time()
    frames = await client.until(message_id)
    done = frames[-1]
    assert done["type"] == "done"
    assert done["finish_reason"] == "cancelled"
    assert await provider.wait_for_async(lambda: provider.requests[0].disconnected_at is not None, 5)
    assert provider.requests[0].tokens_sent < 200
    assert asyncio.get_running_loop().time() - stopped_at < 3


@pytest.mark.parametrize(
    ("script", "model", "code"),
    [
        (Script(status=500), MODEL, "provider_error"),
        (Script(status=400), MODEL, "provider_rejected"),
        (Script(hang=True), MODEL, "provider_timeout"),
        (Script(), REFUSED_MODEL, "provider_unreachable"),
    ],
)
async def test_provider_failures_end_with_a_clear_error_frame(
    stack: Stack, client: Client, provider: FakeProvider, script: Script, model: str, code: str
) -> None:
    provider.set_script(script)
    accepted = await client.prompt("hello", model=model)
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"], timeout=PROVIDER_READ_TIMEOUT_S + 10)
    error = frames[-1]
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert error["seq"] >= 1
    # The socket stays usable.
    await client.send({"type": "ping"})
    assert (await client.recv())["type"] == "pong"


async def test_unknown_model_is_refused_at_once(client: Client) -> None:
    error = await client.prompt("hello", model="no-such-model")
    assert error["type"] == "error"
    assert error["code"] == "model_unavailable"


async def test_bad_token_closes_with_4401(stack: Stack) -> None:
    async with websockets.connect(stack.gateways[0].ws) as raw:
        await raw.send(json.dumps({"type": "hello", "token": stack.token(kid="other"), "session_id": None}))
        frame = json.loads(await asyncio.wait_for(raw.recv(), 5))
        assert frame["type"] == "error"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(raw.recv(), 5)
        assert raw.close_code == 4401
