"""Wiring of the app, without a broker: routes and their order."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.routing import Mount

from parley_gateway import Settings, bootstrap, create_app
from parley_gateway.domain.auth import AccountAccess, Principal
from parley_gateway.domain.errors import AuthUnavailable
from parley_gateway.entrypoints.app import create_ops_app
from parley_testkit.routes import flatten
from tests.fakes import FakePublisher, FakeSessionQueues


def paths(settings: Settings) -> list[str]:
    return [getattr(route, "path", "") for route in flatten(create_app(settings).routes)]


def test_the_public_routes_come_before_the_frontend(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>Parley</h1>")
    routes = flatten(create_app(Settings(jwks_url="http://auth/jwks.json", static_dir=tmp_path)).routes)
    found = [getattr(route, "path", "") for route in routes]
    for path in (
        "/ws",
        "/api/models",
        "/api/auth/{path:path}",
        "/api/history/{path:path}",
    ):
        assert path in found
    assert isinstance(routes[-1], Mount)  # the frontend, mounted at "/" after everything else
    assert routes[-1].path == ""
    assert "/api/dev/token" not in found
    # Probes and metrics are on the operations port only (`create_ops_app`).
    assert not {"/healthz", "/readyz", "/metrics"} & set(found)


def test_the_operations_app_serves_probes_and_metrics_only() -> None:
    app = create_app(Settings(jwks_url="http://auth/jwks.json"))
    ops = create_ops_app(app.state.gateway)
    assert sorted(getattr(route, "path", "") for route in flatten(ops.routes)) == [
        "/healthz",
        "/metrics",
        "/readyz",
    ]


async def test_readiness_names_the_broker_connection_that_is_down() -> None:
    publisher, queues = FakePublisher(), FakeSessionQueues()
    gateway = bootstrap(Settings(jwks_url="http://auth/jwks.json"), publisher=publisher, queues=queues)
    transport = httpx.ASGITransport(app=create_ops_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://ops.test") as ops:
        assert (await ops.get("/readyz")).json() == {"status": "ready"}
        queues.connected = False
        down = await ops.get("/readyz")
        assert (down.status_code, down.json()["reason"]) == (
            503,
            "the session-queue connection to RabbitMQ is down",
        )
        publisher.down = True
        assert "FastStream" in (await ops.get("/readyz")).json()["reason"]


class _KeysOutOfReach:
    """A verifier whose signing keys cannot be fetched: no token can be checked."""

    access = AccountAccess()

    async def refresh(self) -> bool:
        return False

    async def verify(self, token: str) -> Principal:
        raise AuthUnavailable("the signing keys cannot be fetched")


async def test_a_token_that_cannot_be_checked_is_a_503_not_a_401() -> None:
    """Auth's keys out of reach is not the client's fault: /v1 and /api/stats say so (503),
    as the socket does (1013)."""
    settings = Settings(jwks_url="http://auth/jwks.json")
    gateway = bootstrap(
        settings, publisher=FakePublisher(), queues=FakeSessionQueues(), verifier=_KeysOutOfReach()
    )
    transport = httpx.ASGITransport(app=create_app(settings, gateway=gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        headers = {"Authorization": "Bearer a.jwt.token"}
        models = await client.get("/v1/models", headers=headers)
        stats = await client.get("/api/stats", headers=headers)
        nothing = await client.get("/v1/models")
    assert (models.status_code, models.json()["error"]["code"]) == (503, "auth_unavailable")
    assert stats.status_code == 503
    assert nothing.status_code == 401
