"""deploy/compose.yaml, its Prometheus and Grafana files, and the Dockerfiles, read statically
(no Docker engine runs here: `docker-compose config` and hadolint validate without one)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from parley_auth.adapters.metrics import AuthMetrics
from parley_gateway.adapters.metrics import GatewayMetrics
from parley_history.adapters.metrics import HistoryMetrics
from parley_inference.adapters.metrics import PrometheusMetrics
from parley_platform.http_metrics import http_latency
from parley_platform.telemetry import broker_middlewares

from .conftest import BIN, ROOT
from .test_least_privilege import COMPOSE_SECRETS

DEPLOY = ROOT / "deploy"
PLATFORM = ROOT / "libs" / "platform" / "src" / "parley_platform"
SERVICES = ["gateway", "inference", "auth", "history"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as `docker-compose config` resolves it (anchors, merges, defaults)."""
    done = subprocess.run(
        [str(BIN / "docker-compose"), "-f", str(DEPLOY / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **COMPOSE_SECRETS},  # no default: `config` refuses without them
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def test_compose_runs_the_whole_platform(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "rabbitmq", "rabbitmq-users", "postgres", "auth-migrate", "history-migrate", "gateway", "inference",
        "auth", "history", "prometheus", "grafana",
    }  # fmt: skip
    assert services["inference"]["deploy"]["replicas"] == 2
    # The local model server is optional (`--profile ollama`), so not in the default config.
    raw = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert raw["services"]["ollama"]["profiles"] == ["ollama"]
    # Only the gateway is published on all interfaces; the consoles on loopback only.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert name == "gateway" or port["host_ip"] == "127.0.0.1", name


def test_no_service_believes_x_forwarded_for_from_anyone(compose: dict[str, Any]) -> None:
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    trusted = {
        (name, key): value
        for name, service in compose["services"].items()
        for key, value in (service.get("environment") or {}).items()
        if key.endswith(("_TRUSTED_PROXIES", "_FORWARDED_ALLOW_IPS"))
    }
    assert trusted == {("auth", "PARLEY_AUTH_TRUSTED_PROXIES"): subnet}
    assert "*" not in subnet


@pytest.mark.parametrize("svc", ["auth", "history"])
def test_migrations_run_once_before_their_service(compose: dict[str, Any], svc: str) -> None:
    services = compose["services"]
    migrate = services[f"{svc}-migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services[svc]["depends_on"][f"{svc}-migrate"]["condition"] == "service_completed_successfully"
    # Each service has its own database and role; history's migrations run as its owner.
    url = services[svc]["environment"][f"PARLEY_{svc.upper()}_DATABASE_URL"]
    assert re.fullmatch(rf"postgresql://parley_{svc}:[^@]+@postgres:5432/parley_{svc}", url)
    owner = {"auth": "parley_auth", "history": "parley_history_owner"}[svc]
    migrate_url = migrate["environment"][f"PARLEY_{svc.upper()}_DATABASE_URL"]
    assert re.fullmatch(rf"postgresql://{owner}:[^@]+@postgres:5432/parley_{svc}", migrate_url)


def test_one_database_per_service_is_created() -> None:
    script = (DEPLOY / "postgres" / "init-databases.sh").read_text()
    assert re.search(r"^database parley_auth parley_auth$", script, re.M)
    assert re.search(r"^database parley_history parley_history_owner$", script, re.M)


def test_python_services_are_hardened(compose: dict[str, Any]) -> None:
    for name in [
        "gateway",
        "inference",
        "auth",
        "history",
        "auth-migrate",
        "history-migrate",
        "rabbitmq-users",
    ]:
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_workers_drain_before_they_are_killed(compose: dict[str, Any]) -> None:
    worker = compose["services"]["inference"]
    drain = int(worker["environment"]["PARLEY_INFERENCE_SHUTDOWN_GRACE_S"])
    grace = int(str(worker["stop_grace_period"]).rstrip("s"))
    assert grace > drain


def test_rabbitmq_runs_management_and_stream_plugins() -> None:
    plugins = (DEPLOY / "rabbitmq" / "enabled_plugins").read_text()
    for plugin in ["rabbitmq_management", "rabbitmq_stream", "rabbitmq_prometheus"]:
        assert plugin in plugins


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert set(SERVICES) | {"rabbitmq"} <= jobs


def _series(kind: str, name: str) -> set[str]:
    base = name.removesuffix("_total")
    return {
        "counter": {f"{base}_total"},
        "gauge": {name},
        "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
    }[kind.lower()]


def _metric_names_exposed() -> set[str]:
    """Metric names the services register (prometheus-client adds `_total`, `_bucket`, ...):
    their own, the shared HTTP latency, and FastStream's broker middleware. Read from the
    registries the services build, not from their source."""
    shared = CollectorRegistry()
    http_latency(shared)
    broker_middlewares(shared, app_name="dashboard-check")
    registries = [
        shared,
        AuthMetrics().registry,
        GatewayMetrics().registry,
        HistoryMetrics().registry,
        PrometheusMetrics().registry,
    ]
    return {name for registry in registries for m in registry.collect() for name in _series(m.type, m.name)}


def test_the_exposed_names_include_the_shared_ones() -> None:
    exposed = _metric_names_exposed()
    assert "parley_http_request_duration_seconds_bucket" in exposed
    assert "parley_broker_received_messages_total" in exposed
    assert "parley_inference_inter_token_seconds_bucket" in exposed


def test_the_dashboard_uses_metrics_the_services_expose() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "parley.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {m for expr in exprs for m in re.findall(r"\b((?:parley_|history_)[a-z_]+)\b", expr)}
    exposed = _metric_names_exposed()
    assert used, "the dashboard queries no Parley metric"
    assert used <= exposed, sorted(used - exposed)
    # The inference queue depth, what KEDA scales on, is on the dashboard too.
    assert any('queue=~"inference[.]requests[.].+"' in expr for expr in exprs)


# --- Dockerfiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("svc", SERVICES)
def test_dockerfile_lints_clean(svc: str) -> None:
    dockerfile = ROOT / "services" / svc / "Dockerfile"
    args = [str(BIN / "hadolint"), str(dockerfile)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _final_stage(dockerfile: Path) -> list[str]:
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    start = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return [line for line in lines[start:] if line and not line.startswith("#")]


@pytest.mark.parametrize("svc", SERVICES)
def test_runtime_stage_is_slim_non_root_and_healthchecked(svc: str) -> None:
    dockerfile = ROOT / "services" / svc / "Dockerfile"
    text = dockerfile.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    stage = _final_stage(dockerfile)
    assert stage[0] == "FROM ${PYTHON_IMAGE} AS runtime"
    body = "\n".join(stage)
    assert "USER 10001:10001" in body
    assert re.search(r"^EXPOSE \d+$", body, re.M)
    assert 'CMD ["python", "/app/healthcheck.py"]' in body
    assert f'ENTRYPOINT ["python", "-m", "parley_{svc}"]' in body
    # No package manager, compiler or pip run in the runtime stage: it only copies the venv.
    assert not re.search(r"apt-get|apk |gcc|pip install", body)
    assert "COPY --from=builder /opt/venv /opt/venv" in body
    assert "-c constraints.txt" in text


def test_gateway_image_carries_the_frontend_optionally() -> None:
    text = (ROOT / "services" / "gateway" / "Dockerfile").read_text()
    assert "ARG FRONTEND=none" in text
    for stage in ["frontend-none", "frontend-build", "frontend-prebuilt"]:
        assert f"AS {stage}" in text
    assert "COPY --from=frontend /frontend/out /app/frontend/out" in text


def test_healthcheck_script_uses_only_the_standard_library() -> None:
    source = (DEPLOY / "docker" / "healthcheck.py").read_text()
    imports = set(re.findall(r"^import (\w+)", source, re.M))
    assert imports == {"os", "sys", "urllib"}
