"""Health, readiness, metrics, and the committed OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

from parley_auth.__main__ import openapi_document
from parley_auth.adapters.repository import Database
from tests.integration.conftest import Api

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"


async def test_health_ready_metrics(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    assert (await api.http.get("/readyz")).json() == {"status": "ready"}
    await api.http.post("/api/auth/login", json={"email": "nobody@parley.dev", "password": "whatever!"})
    metrics = (await api.http.get("/metrics")).text
    assert 'parley_auth_logins_total{outcome="failed"} 1.0' in metrics


async def test_readyz_reports_a_dead_database(api: Api) -> None:
    real = api.auth.db
    api.auth.db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        response = await api.http.get("/readyz")
    finally:
        await api.auth.db.close()
        api.auth.db = real
    assert response.status_code == 503
    assert "database" in response.json()["reason"]


def test_committed_openapi_is_current(postgres_url: str, amqp_url: str) -> None:
    from tests.integration.conftest import make_settings

    settings = make_settings(postgres_url, amqp_url)
    assert OPENAPI.is_file(), "run: python -m parley_auth openapi > services/auth/openapi.json"
    assert json.loads(OPENAPI.read_text()) == json.loads(openapi_document(settings)), (
        "services/auth/openapi.json is stale: "
        "run `python -m parley_auth openapi > services/auth/openapi.json`"
    )
