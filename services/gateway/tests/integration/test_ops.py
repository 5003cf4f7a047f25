"""What operators and the model picker see: live models, health, readiness,
and a broker outage that the sockets survive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from parley_testkit import FakeProvider
from tests.integration.conftest import GatewayProcess, spawn_gateway
from tests.integration.proxy import TcpProxy
from tests.integration.worker import FakeWorker


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_models_follow_the_heartbeats_of_live_workers(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess, amqp_url: str
) -> None:
    first = FakeWorker(amqp_url, capacity=3)
    await first.start()
    second = FakeWorker(amqp_url, model=first.model, capacity=2)
    await second.start()
    try:

        async def both_listed() -> bool:
            entry = (await gateway_b.models()).get(first.model)
            return entry == {"name": first.model, "workers": 2, "free_slots": 5}

        await eventually(both_listed, timeout=5)
        # A worker that stops announcing itself is forgotten after three of its intervals.
        second.stop_heartbeats()
        started = time.monotonic()

        async def one_left() -> bool:
            return (await gateway_a.models()).get(first.model, {}).get("workers") == 1

        await eventually(one_left, timeout=5)
        assert time.monotonic() - started < 3 * second.interval_s + 1.0
        # A worker that says it is stopping takes no more prompts at once.
        await first.stop()

        async def gone() -> bool:
            return first.model not in await gateway_a.models()

        await eventually(gone, timeout=2)
    finally:
        await second.stop(farewell=False)


async def test_health_and_readiness(gateway_a: GatewayProcess) -> None:
    assert (await gateway_a.ops("/healthz")).json() == {"status": "ok"}
    ready = await gateway_a.ops("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    metrics = await gateway_a.ops("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert (await gateway_a.ops("/nothing-here")).status_code == 404
    # The public port serves none of them: the Ingress exposes it to everyone.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await gateway_a.get(path)).status_code == 404, path


@pytest.fixture
def proxy(amqp_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(amqp_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672) as tcp:
        yield tcp


@pytest.fixture
async def fragile_gateway(
    amqp_url: str, jwks_server: FakeProvider, proxy: TcpProxy
) -> AsyncIterator[GatewayProcess]:
    """A gateway that reaches RabbitMQ through a proxy the test can cut."""
    parts = urlsplit(amqp_url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    through_proxy = urlunsplit(parts._replace(netloc=netloc))
    gateway = spawn_gateway("gateway-fragile", through_proxy, jwks_server.jwks_url)
    try:
        await eventually(lambda: _ready(gateway), timeout=30)
        yield gateway
    finally:
        gateway.process.terminate()


async def _ready(gateway: GatewayProcess) -> bool:
    try:
        return (await gateway.ops("/readyz")).status_code == 200
    except Exception:
        return False


async def test_a_broker_outage_keeps_sockets_and_recovers(
    fragile_gateway: GatewayProcess, proxy: TcpProxy, amqp_url: str, connect: Any, token: str
) -> None:
    worker = FakeWorker(amqp_url, interval_s=30.0)  # listed for the whole outage
    await worker.start()
    try:
        await eventually(lambda: _listed(fragile_gateway, worker.model), timeout=5)
        client = await connect(fragile_gateway)
        await client.hello(token)

        proxy.cut()

        async def unready() -> bool:
            response = await fragile_gateway.ops("/readyz")
            return response.status_code == 503 and "RabbitMQ" in response.json()["reason"]

        await eventually(unready, timeout=5)
        refused = await client.prompt(worker.model, request_id="during")
        assert refused["type"] == "error"
        assert (refused["code"], refused["request_id"]) == ("broker_unavailable", "during")
        await client.ping()

        proxy.restore()
        await eventually(lambda: _ready(fragile_gateway), timeout=15)
        # The session queue is consumed again: a prompt streams as before.
        accepted = await client.prompt(worker.model, request_id="after")
        assert accepted["type"] == "accepted", accepted
        gen = await worker.next_request()
        await worker.delta(gen, "back")
        await worker.finish(gen)
        assert (await client.expect("delta", timeout=10))["text"] == "back"
        assert (await client.expect("done"))["text"] == "back"
    finally:
        await worker.stop()


async def _listed(gateway: GatewayProcess, model: str) -> bool:
    return model in await gateway.models()
