"""Wiring of the app, without a broker: routes and their order."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount

from parley_gateway import Settings, create_app
from parley_gateway.entrypoints.app import create_ops_app
from parley_testkit.routes import flatten


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
