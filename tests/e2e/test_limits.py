"""Limits that a user cannot get around: the concurrent-generation limit and the
prompts-per-minute limit hold across every socket of the user and the
OpenAI-compatible API (the official `openai` SDK as its client), and a socket
or HTTP client that leaves mid-answer does not free its slot while the answer
still runs; both limits hold across gateway processes too (sockets on two
gateways); a user over quota is refused on every socket and on `/v1`; a
prompt over the message-count or size limit gets a clear error. Real
gateways, a real worker and the fake provider, on the real broker."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from parley_contracts import QuotaExceeded, QuotaRestored
from parley_testkit import FakeProvider, RecordedRequest, Script, TestIssuer

from .stack import MODEL, Client, Gateway, Stack
from .test_accounts import publish

log = logging.getLogger(__name__)

MAX_GENERATIONS = 2
PROMPTS_PER_MINUTE = 4
MAX_FRAME_BYTES = 65_536
MAX_MESSAGES = 1000
SLOW = Script(tokens=["tick "] * 30, delay_s=0.1)
"""About 3 s per answer: long enough to hold a slot while the test opens other sockets."""
HOLD = Script(tokens=["tick "] * 10, delay_s=0.1)
"""About 1 s per answer: long enough to hold a slot while the test tries the other gateway."""
PROPAGATION_S = 0.2
"""Ample time for a prompt accepted by one gateway to reach the others (about a millisecond)."""


@pytest.fixture(scope="module")
def limits_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    """A worker; gateway 0 with a small generation limit, gateway 1 with a small prompt rate."""
    stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
    try:
        stack.start_worker()
        frame = {"PARLEY_GATEWAY_MAX_FRAME_BYTES": str(MAX_FRAME_BYTES)}
        stack.start_gateway(
            PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER=str(MAX_GENERATIONS),
            PARLEY_GATEWAY_PROMPTS_PER_MINUTE="1000",
            **frame,
        )
        stack.start_gateway(
            PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER="50",
            PARLEY_GATEWAY_PROMPTS_PER_MINUTE=str(PROMPTS_PER_MINUTE),
            **frame,
        )
        for gateway in stack.gateways:
            stack.wait_models(gateway, workers=1)
        yield stack
    finally:
        stack.close()
        for gateway in stack.gateways:
            assert "Traceback" not in gateway.process.log_text()


@pytest.fixture(scope="module")
def twin_gateways(limits_stack: Stack) -> tuple[Gateway, Gateway]:
    """Two more gateways with the same limits, both small: the Ingress may put a user's sockets
    (and `/v1` requests) on either."""
    limits = {
        "PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER": str(MAX_GENERATIONS),
        "PARLEY_GATEWAY_PROMPTS_PER_MINUTE": str(PROMPTS_PER_MINUTE),
    }
    first, second = limits_stack.start_gateway(**limits), limits_stack.start_gateway(**limits)
    for gateway in (first, second):
        limits_stack.wait_models(gateway, workers=1)
    return first, second


@pytest.fixture
async def stack(limits_stack: Stack, provider: FakeProvider) -> AsyncIterator[Stack]:
    provider.reset()
    yield limits_stack


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


def _sdk(gateway: Gateway, token: str) -> openai.AsyncOpenAI:
    """The official client, with an access token (the gateway takes one as well as an API key)."""
    return openai.AsyncOpenAI(base_url=f"{gateway.http}/v1", api_key=token, max_retries=0, timeout=20)


async def _v1_error(gateway: Gateway, token: str, **request: Any) -> openai.APIStatusError:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **request}
    async with _sdk(gateway, token) as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(**body)
    return caught.value


def _code(error: openai.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("code"))


async def _open(gateway: Gateway, token: str, clients: list[Client], count: int) -> list[Client]:
    opened = [await Client.connect(gateway, token) for _ in range(count)]
    clients.extend(opened)
    return opened


def _max_overlap(requests: list[RecordedRequest]) -> int:
    """The most provider requests that were open at one time."""
    edges = sorted(
        [(r.received_at, 1) for r in requests] + [(r.completed_at or time.monotonic(), -1) for r in requests]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def _until_accepted(client: Client, *, timeout: float) -> tuple[dict[str, Any], float]:
    """Prompt until one is accepted (refusals must say `too_many_generations`): it, and the wait."""
    started = time.monotonic()
    while True:
        frame = await client.prompt("again")
        if frame["type"] == "accepted":
            return frame, time.monotonic() - started
        assert frame["code"] == "too_many_generations", frame
        assert time.monotonic() - started < timeout, "the slots were never freed"
        await asyncio.sleep(0.2)


async def test_more_sockets_and_v1_cannot_run_more_generations_than_the_limit(
    stack: Stack, clients: list[Client]
) -> None:
    gateway = stack.gateways[0]
    token = stack.token(f"limits-{uuid.uuid4().hex[:8]}")
    stack.provider.set_script(SLOW)
    first, second, third = await _open(gateway, token, clients, 3)
    for client in (first, second):
        accepted = await client.prompt("hold a slot")
        assert accepted["type"] == "accepted", accepted
    refused = await third.prompt("one too many")
    assert (refused["type"], refused["code"]) == ("error", "too_many_generations"), refused
    error = await _v1_error(gateway, token, stream=True)
    assert (error.status_code, _code(error)) == (429, "too_many_generations"), error.body

    # Sockets that leave do not take their answers' slots with them: the answers still run.
    await first.close()
    await second.close()
    (fourth,) = await _open(gateway, token, clients, 1)
    refused = await fourth.prompt("after the others left")
    assert (refused["type"], refused["code"]) == ("error", "too_many_generations"), refused
    error = await _v1_error(gateway, token)
    assert (error.status_code, _code(error)) == (429, "too_many_generations"), error.body

    # The slots come back when the answers end (their outcome events), with no socket on them.
    accepted, waited = await _until_accepted(fourth, timeout=30)
    log.info("a slot came back %.2f s after the sockets left", waited)
    assert (await fourth.until(accepted["message_id"], timeout=30))[-1]["type"] == "done"

    # HTTP clients that leave mid-stream hold their slots the same way.
    async with _sdk(gateway, token) as sdk:
        for _ in range(MAX_GENERATIONS):
            stream = await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "leave early"}], stream=True
            )
            async for _chunk in stream:
                break
            await stream.close()
    refused = await fourth.prompt("after the HTTP clients left")
    assert (refused["type"], refused["code"]) == ("error", "too_many_generations"), refused
    await _until_accepted(fourth, timeout=30)

    answers = 6  # two, one, two by HTTP, one
    deadline = time.monotonic() + 30
    while len(stack.provider.requests) < answers or not all(r.completed for r in stack.provider.requests):
        assert time.monotonic() < deadline, "the provider's answers never ended"
        await asyncio.sleep(0.1)
    peak = _max_overlap(stack.provider.requests)
    log.info("%d answers, at most %d at a time", len(stack.provider.requests), peak)
    assert len(stack.provider.requests) == answers
    assert peak <= MAX_GENERATIONS


async def test_more_sockets_and_v1_share_one_prompt_rate(stack: Stack, clients: list[Client]) -> None:
    gateway = stack.gateways[1]
    token = stack.token(f"rate-{uuid.uuid4().hex[:8]}")
    first, second = await _open(gateway, token, clients, 2)
    for client in (first, second, first):
        accepted = await client.prompt("counted")
        assert accepted["type"] == "accepted", accepted
        assert (await client.until(accepted["message_id"]))[-1]["type"] == "done"
    async with _sdk(gateway, token) as sdk:
        answer = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "counted"}]
        )
    assert answer.choices[0].message.content
    # Four prompts this minute, from three clients: every client is refused now.
    (third,) = await _open(gateway, token, clients, 1)
    for client in (first, second, third):
        refused = await client.prompt("over the rate")
        assert (refused["type"], refused["code"]) == ("error", "rate_limited"), refused
    error = await _v1_error(gateway, token)
    assert (error.status_code, _code(error)) == (429, "rate_limited"), error.body
    # Another user is not affected.
    (other,) = await _open(gateway, stack.token(f"rate-other-{uuid.uuid4().hex[:8]}"), clients, 1)
    accepted = await other.prompt("mine")
    assert accepted["type"] == "accepted", accepted
    assert (await other.until(accepted["message_id"]))[-1]["type"] == "done"
    assert len(stack.provider.requests) == PROMPTS_PER_MINUTE + 1


async def test_sockets_on_two_gateways_share_one_generation_limit_and_one_rate(
    stack: Stack, twin_gateways: tuple[Gateway, Gateway], clients: list[Client]
) -> None:
    left, right = twin_gateways
    token = stack.token(f"twins-{uuid.uuid4().hex[:8]}")
    (on_left,), (on_right,) = await _open(left, token, clients, 1), await _open(right, token, clients, 1)
    (other,) = await _open(left, stack.token(f"twins-other-{uuid.uuid4().hex[:8]}"), clients, 1)
    stack.provider.set_script(HOLD)
    held = []
    for client in (on_left, on_right):
        accepted = await client.prompt("hold a slot")
        assert accepted["type"] == "accepted", accepted
        held.append((client, accepted["message_id"]))
    await asyncio.sleep(PROPAGATION_S)
    # One generation through each gateway: the limit of two is reached on both.
    for client in (on_left, on_right):
        refused = await client.prompt("one too many")
        assert (refused["type"], refused.get("code")) == ("error", "too_many_generations"), refused
    error = await _v1_error(right, token)
    assert (error.status_code, _code(error)) == (429, "too_many_generations"), error.body
    accepted = await other.prompt("another user")
    assert accepted["type"] == "accepted", accepted
    for client, message_id in held:
        assert (await client.until(message_id))[-1]["type"] == "done"

    # Their outcome events free the slots on both gateways; prompts 3 and 4 of the minute.
    stack.provider.reset()
    for client in (on_left, on_right):
        accepted, _ = await _until_accepted(client, timeout=10)
        assert (await client.until(accepted["message_id"]))[-1]["type"] == "done"
    await asyncio.sleep(PROPAGATION_S)
    for client in (on_left, on_right):
        refused = await client.prompt("over the rate")
        assert (refused["type"], refused.get("code")) == ("error", "rate_limited"), refused
    error = await _v1_error(left, token)
    assert (error.status_code, _code(error)) == (429, "rate_limited"), error.body
    accepted = await other.prompt("still fine")
    assert accepted["type"] == "accepted", accepted
    assert (await other.until(accepted["message_id"]))[-1]["type"] == "done"
    assert len(stack.provider.requests) == 3  # since the reset: two of the user's, one of the other's


async def test_a_user_over_quota_is_refused_on_every_socket_and_on_v1(
    stack: Stack, clients: list[Client]
) -> None:
    gateway = stack.gateways[0]
    user = f"quota-{uuid.uuid4().hex[:8]}"
    token = stack.token(user)
    first, second = await _open(gateway, token, clients, 2)
    await publish(stack, QuotaExceeded(user_id=user, quota="tokens/day", limit=10, used=11))
    deadline = time.monotonic() + 10
    while (frame := await first.prompt("probe"))["type"] == "accepted":
        assert time.monotonic() < deadline, "the quota never reached the gateway"
        await first.until(frame["message_id"])
    (third,) = await _open(gateway, token, clients, 1)
    before = len(stack.provider.requests)
    for client in (first, second, third):
        refused = await client.prompt("over quota")
        assert (refused["type"], refused["code"]) == ("error", "quota_exceeded"), refused
    for stream in (False, True):
        error = await _v1_error(gateway, token, stream=stream)
        assert (error.status_code, _code(error)) == (429, "quota_exceeded"), error.body
    assert len(stack.provider.requests) == before
    await publish(
        stack,
        QuotaRestored(user_id=user, quota="tokens/day", limit=100, used=11, reason="budget_raised"),
    )
    deadline = time.monotonic() + 10
    while (frame := await third.prompt("probe"))["type"] != "accepted":
        assert frame["code"] == "quota_exceeded", frame
        assert time.monotonic() < deadline, "the restore never reached the gateway"
        await asyncio.sleep(0.1)
    assert (await third.until(frame["message_id"]))[-1]["type"] == "done"


async def test_prompts_over_the_count_or_size_limit_get_a_clear_error(
    stack: Stack, clients: list[Client]
) -> None:
    gateway = stack.gateways[0]
    token = stack.token(f"sizes-{uuid.uuid4().hex[:8]}")
    (client,) = await _open(gateway, token, clients, 1)
    many = [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)
    big = "y" * (MAX_FRAME_BYTES + 1)
    request = {"type": "prompt", "request_id": "r", "model": MODEL, "params": {"max_tokens": 8}}

    await client.send({**request, "messages": many})
    error = await client.recv()
    assert (error["type"], error["code"]) == ("error", "invalid_frame"), error
    assert "messages" in error["message"], error
    assert str(MAX_MESSAGES) in error["message"], error
    await client.send({**request, "messages": [{"role": "user", "content": big}]})
    error = await client.recv()
    assert (error["type"], error["code"]) == ("error", "frame_too_large"), error
    assert str(MAX_FRAME_BYTES) in error["message"], error
    # The limit is the frame's: a prompt just under it is taken (the rest of the frame is < 300 bytes).
    accepted = await client.prompt("z" * (MAX_FRAME_BYTES - 300))
    assert accepted["type"] == "accepted", accepted

    too_many = await _v1_error(gateway, token, messages=many)
    assert too_many.status_code == 400, too_many.body
    assert isinstance(too_many.body, dict)
    assert too_many.body["param"] == "messages", too_many.body
    too_big = await _v1_error(gateway, token, messages=[{"role": "user", "content": big}])
    assert (too_big.status_code, _code(too_big)) == (413, "too_large"), too_big.body
    assert len(stack.provider.requests) == 1
