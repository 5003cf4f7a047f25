"""Faults under load (issue 9): the broker cuts every connection of this
stack while 20 answers stream. Every service reconnects by itself, every
client learns each answer's outcome (`done` or a clear `error`), and the clients,
history and `audit.events` agree on every answer (`agreement.check_agreement`)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley_testkit import FakeProvider, Script, TestIssuer, cut_connections

from .agreement import Seen, check_agreement
from .stack import Client, Stack, postgres_database

STREAMS = 20
TOKENS = [f"t{i} " for i in range(40)]


@pytest.fixture
def fault_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    provider.reset()
    with postgres_database("parley_e2e_faults") as database_url:
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
        try:
            stack.start_history(database_url)
            stack.start_worker(PARLEY_INFERENCE_CONCURRENCY="32")
            stack.start_gateway(PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER="64")
            stack.wait_models(stack.gateways[0], workers=1)
            yield stack
        finally:
            stack.close()


def _close_connections(amqp_url: str) -> None:
    if not cut_connections(amqp_url, "fault test: every connection cut"):
        pytest.skip("rabbitmqctl is not on PATH: cannot cut the broker's connections")


async def _stream(client: Client, index: int) -> Seen:
    accepted = await client.prompt(f"fault {index}")
    assert accepted["type"] == "accepted", accepted
    frames = await client.until(accepted["message_id"], timeout=60)
    return Seen(accepted, frames[-1])


async def _agree(stack: Stack, token: str, seen: list[Seen]) -> str:
    assert stack.history is not None
    agreement = await check_agreement(
        seen, history_url=stack.history.http, token=token, amqp_url=stack.amqp_url, within_s=60
    )
    return str(agreement)


async def test_cutting_every_broker_connection_mid_stream_loses_no_answer(
    fault_stack: Stack, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=TOKENS, delay_s=0.05))  # about 2 s per answer
    gateway = fault_stack.gateways[0]
    token = fault_stack.token("fault-user")
    clients = [await Client.connect(gateway, token) for _ in range(STREAMS)]  # a tab per answer
    try:
        tasks = [asyncio.create_task(_stream(client, i)) for i, client in enumerate(clients)]
        await asyncio.sleep(0.8)  # every answer is streaming now
        cut_at = time.monotonic()
        await asyncio.to_thread(_close_connections, fault_stack.amqp_url)
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), timeout=90)
        recovered_in = time.monotonic() - cut_at
    finally:
        for client in clients:
            await client.close()

    ends = [o.end for o in outcomes]
    assert all(e["type"] in {"done", "error"} for e in ends), ends
    errors = [e for e in ends if e["type"] == "error"]
    assert all(e["code"] and e["message"] for e in errors), errors
    finished = [o for o in outcomes if o.done]
    for outcome in finished:
        assert outcome.end["text"] == "".join(TOKENS)

    # Every service is back: a new answer streams end to end.
    again = await Client.connect(gateway, token)
    try:
        last = await _stream(again, 99)
        assert last.done
    finally:
        await again.close()

    agreement = await _agree(fault_stack, token, [*outcomes, last])
    print(  # noqa: T201
        f"\nbroker cut: {len(finished)}/{STREAMS} answers done, {len(errors)} ended with an error "
        f"({sorted({e['code'] for e in errors})}), all outcomes known {recovered_in:.1f} s after the cut; "
        f"{agreement}"
    )


def _rabbitmqctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not on PATH: cannot stop the broker")
    subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.stops_broker
async def test_the_broker_down_for_ten_seconds_loses_no_answer(
    fault_stack: Stack, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=TOKENS, delay_s=0.05))
    gateway = fault_stack.gateways[0]
    token = fault_stack.token("outage-user")
    clients = [await Client.connect(gateway, token) for _ in range(10)]
    try:
        tasks = [asyncio.create_task(_stream(client, i)) for i, client in enumerate(clients)]
        await asyncio.sleep(0.8)
        await asyncio.to_thread(_rabbitmqctl, "stop_app")
        try:
            stopped = time.monotonic()
            while await asyncio.to_thread(_ready, gateway.ops):
                assert time.monotonic() - stopped < 8, "/readyz kept saying ready with the broker down"
                await asyncio.sleep(0.2)
            unready_after = time.monotonic() - stopped
            await asyncio.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
        finally:
            await asyncio.to_thread(_rabbitmqctl, "start_app")
        restarted = time.monotonic()
        while not await asyncio.to_thread(_ready, gateway.ops):
            assert time.monotonic() - restarted < 60, "the gateway never became ready again"
            await asyncio.sleep(0.2)
        ready_again = time.monotonic() - restarted
        outcomes = await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    finally:
        for client in clients:
            await client.close()

    ends = [o.end for o in outcomes]
    assert all(e["type"] in {"done", "error"} for e in ends), ends
    finished = [o for o in outcomes if o.done]
    for outcome in finished:
        assert outcome.end["text"] == "".join(TOKENS)
    again = await Client.connect(gateway, token)
    try:
        last = await _stream(again, 99)
        assert last.done
    finally:
        await again.close()
    agreement = await _agree(fault_stack, token, [*outcomes, last])
    errors = sorted({e["code"] for e in ends if e["type"] == "error"})
    print(  # noqa: T201
        f"\nbroker down 10 s: /readyz unready after {unready_after:.1f} s, ready again "
        f"{ready_again:.1f} s after the restart; {len(finished)}/10 done, errors {errors}; {agreement}"
    )
