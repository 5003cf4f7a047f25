"""Integration fixtures: a fresh vhost on the real RabbitMQ, a JWKS server,
two gateway processes, a fake worker per test, WebSocket clients."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from parley_testkit import (
    FakeProvider,
    ServiceProcess,
    TestIssuer,
    amqp_url_from_env,
    free_port,
    isolated_vhost,
)
from tests.integration.client import Client
from tests.integration.worker import FakeWorker

ISSUER, AUDIENCE = "parley-test-auth", "parley-test"

GATEWAY_ENV = {
    "PARLEY_GATEWAY_JWT_ISSUER": ISSUER,
    "PARLEY_GATEWAY_JWT_AUDIENCE": AUDIENCE,
    "PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER": "2",
    "PARLEY_GATEWAY_PROMPTS_PER_MINUTE": "5",
    "PARLEY_GATEWAY_HELLO_TIMEOUT_S": "1",
    "PARLEY_GATEWAY_SNAPSHOT_WAIT_S": "1",
    "PARLEY_GATEWAY_JWKS_REFETCH_FLOOR_S": "0.5",
    "PARLEY_GATEWAY_RECONNECT_INTERVAL_S": "0.5",
    "PARLEY_GATEWAY_LOG_LEVEL": "INFO",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.nodeid.split("::")[0]:
            item.add_marker(pytest.mark.integration)


class KeyRing(TestIssuer):
    """The auth service's JWKS: its signing key, plus keys rotated in later."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__(issuer=ISSUER, audience=AUDIENCE)
        self.rotated: list[TestIssuer] = []

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk(), *(issuer.jwk() for issuer in self.rotated)]}


@dataclass
class GatewayProcess:
    process: ServiceProcess
    port: int
    ops_port: int
    """`/healthz`, `/readyz` and `/metrics`: not on the public port."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            return await http.get(path)

    async def ops(self, path: str) -> httpx.Response:
        """GET on the operations port."""
        async with httpx.AsyncClient(base_url=self.ops_url, timeout=5) as http:
            return await http.get(path)

    async def models(self) -> dict[str, dict[str, Any]]:
        response = await self.get("/api/models")
        assert response.status_code == 200
        return {m["name"]: m for m in response.json()["models"]}


def spawn_gateway(name: str, amqp_url: str, jwks_url: str, **env: str) -> GatewayProcess:
    port, ops_port = free_port(), free_port()
    process = ServiceProcess(
        [sys.executable, "-m", "parley_gateway"],
        {
            **GATEWAY_ENV,
            "AMQP_URL": amqp_url,
            "PARLEY_GATEWAY_JWKS_URL": jwks_url,
            "PORT": str(port),
            "PARLEY_GATEWAY_OPS_PORT": str(ops_port),
            **env,
        },
        name,
    )
    process.start()
    return GatewayProcess(process, port, ops_port)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with isolated_vhost(amqp_url_from_env(), prefix="parley-gateway-test") as url:
        yield url


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing()


@pytest.fixture(scope="session")
def jwks_server(keyring: KeyRing) -> Iterator[FakeProvider]:
    with FakeProvider(issuer=keyring) as provider:
        yield provider


@pytest.fixture(scope="session")
def gateways(amqp_url: str, jwks_server: FakeProvider) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateway processes on the same broker, started side by side."""
    pair = (
        spawn_gateway("gateway-a", amqp_url, jwks_server.jwks_url),
        spawn_gateway("gateway-b", amqp_url, jwks_server.jwks_url),
    )
    try:
        for gateway in pair:
            gateway.process.wait_ready(f"{gateway.ops_url}/readyz", timeout=30)
        yield pair
    finally:
        for gateway in pair:
            gateway.process.terminate()


@pytest.fixture
def gateway_a(gateways: tuple[GatewayProcess, GatewayProcess]) -> GatewayProcess:
    return gateways[0]


@pytest.fixture
def gateway_b(gateways: tuple[GatewayProcess, GatewayProcess]) -> GatewayProcess:
    return gateways[1]


@pytest.fixture
def user() -> str:
    return f"user-{uuid4().hex[:8]}"


@pytest.fixture
def token(keyring: KeyRing, user: str) -> str:
    return keyring.token(user)


async def wait_for_model(gateways: tuple[GatewayProcess, ...], model: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    for gateway in gateways:
        while model not in await gateway.models():
            assert time.monotonic() < deadline, f"{gateway.url} never listed {model}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def worker(amqp_url: str, gateways: tuple[GatewayProcess, GatewayProcess]) -> AsyncIterator[FakeWorker]:
    fake = FakeWorker(amqp_url)
    await fake.start()
    await wait_for_model(gateways, fake.model)
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Clients to close at the end of the test, whatever happened."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


@pytest.fixture
def connect(clients: list[Client]) -> Any:
    async def _connect(gateway: GatewayProcess) -> Client:
        client = await Client.connect(gateway.ws_url)
        clients.append(client)
        return client

    return _connect


@pytest.fixture
async def client(gateway_a: GatewayProcess, connect: Any, token: str) -> Client:
    """The user's socket on gateway A, past its hello."""
    socket: Client = await connect(gateway_a)
    await socket.hello(token)
    return socket


@pytest.fixture
async def on_both_gateways(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess, connect: Any, token: str
) -> list[Client]:
    """The user's two sockets, one on gateway A and one on gateway B, past their hello."""
    sockets = [await connect(gateway_a), await connect(gateway_b)]
    for client in sockets:
        await client.hello(token)
    return sockets
