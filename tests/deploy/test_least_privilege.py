"""Least privilege in the deployment files (security issue 24): a RabbitMQ user per service from
the one permission table, trusted proxies instead of `*`, the workers' egress, history's owner and
runtime roles, and no accepted default for the secrets."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from parley_contracts import DOMAIN_EVENTS
from parley_contracts.senders import OWNED, SERVICES, Senders, Service
from parley_contracts.topology import CHAT_EVENTS

from .conftest import BIN, CHART, ROOT, Manifest, Rendered

DEPLOY = ROOT / "deploy"
TABLE = DEPLOY / "rabbitmq" / "permissions.json"
COMPOSE_SECRETS = {
    "RABBITMQ_PASSWORD": "check-admin-password-0000",
    "PARLEY_BROKER_AUTH_PASSWORD": "check-auth-password-0000",
    "PARLEY_BROKER_GATEWAY_PASSWORD": "check-gateway-password-00",
    "PARLEY_BROKER_HISTORY_PASSWORD": "check-history-password-00",
    "PARLEY_BROKER_INFERENCE_PASSWORD": "check-inference-password",
    "PARLEY_CATALOG_SECRET": "check-catalog-secret-000000",
    "PARLEY_HISTORY_AUDIT_KEY": "check-audit-key-0000000000",
    "PARLEY_HISTORY_OWNER_DB_PASSWORD": "check-owner-password-000",
}
METADATA = ipaddress.ip_address("169.254.169.254")
PRIVATE = [ipaddress.ip_address(a) for a in ("10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1")]


def _table_users() -> dict[str, str]:
    users: dict[str, dict[str, Any]] = json.loads(TABLE.read_text())["users"]
    return {service: entry["user"] for service, entry in users.items()}


def _container(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    container: dict[str, Any] = rendered.get(kind, name)["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _secret_value(rendered: Rendered, ref: dict[str, str]) -> str | None:
    secret = rendered.find("Secret", ref["name"])
    return None if secret is None else str(secret["stringData"][ref["key"]])


def _compose(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    return subprocess.run(
        [str(BIN / "docker-compose"), "-f", str(DEPLOY / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**clean, **env},
    )


# --- the broker: a user per service ------------------------------------------------------------


def test_the_chart_carries_the_one_permission_table_and_script() -> None:
    assert (CHART / "files" / "broker-permissions.json").read_bytes() == TABLE.read_bytes()
    script = DEPLOY / "docker" / "broker_users.py"
    assert (CHART / "files" / "broker_users.py").read_bytes() == script.read_bytes()


@pytest.mark.parametrize("svc", SERVICES)
def test_each_service_connects_with_its_own_user(default: Rendered, svc: str) -> None:
    ref = _env(_container(default, "Deployment", f"parley-{svc}"))["AMQP_URL"]["secretKeyRef"]
    assert ref == {"name": f"parley-{svc}-broker", "key": "AMQP_URL"}
    url = _secret_value(default, ref)
    assert url is not None
    assert urlsplit(url).username == _table_users()[svc]


def _broker_users_setting() -> str:
    return ",".join(f"{svc}={user}" for svc, user in _table_users().items())


@pytest.mark.parametrize("svc", SERVICES)
def test_each_service_knows_every_services_broker_user(default: Rendered, svc: str) -> None:
    env = _env(_container(default, "Deployment", f"parley-{svc}"))
    assert env["PARLEY_BROKER_USERS"] == _broker_users_setting()
    assert Senders.parse(env["PARLEY_BROKER_USERS"]).users is not None


def test_compose_services_know_every_services_broker_user() -> None:
    done = _compose(COMPOSE_SECRETS)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    for svc in SERVICES:
        assert services[svc]["environment"]["PARLEY_BROKER_USERS"] == _broker_users_setting(), svc


@pytest.mark.parametrize("svc", SERVICES)
def test_the_table_lets_a_service_publish_on_chat_events_what_the_contract_says_it_owns(svc: Service) -> None:
    """The broker's topic permissions and the consumers' sender check (`OWNED`) say the same."""
    table: dict[str, dict[str, Any]] = json.loads(TABLE.read_text())["users"]
    patterns = table[svc].get("topics", {}).get(CHAT_EVENTS.name, {}).get("write", [])
    on_chat_events = {model.model_fields["type"].default for model in DOMAIN_EVENTS}
    allowed = {t for t in on_chat_events if any(fnmatch.fnmatchcase(t, p) for p in patterns)}
    assert allowed == OWNED[svc] & on_chat_events


def test_no_two_services_share_a_broker_secret(both: Rendered) -> None:
    refs = [
        json.dumps(_env(_container(both, "Deployment", f"parley-{svc}"))["AMQP_URL"], sort_keys=True)
        for svc in SERVICES
    ]
    assert len(set(refs)) == len(SERVICES)


def test_the_users_job_makes_each_enabled_services_user_from_its_url(all_on: Rendered) -> None:
    job = _container(all_on, "Job", "parley-broker-users")
    assert job["command"] == ["python", "/setup/broker_users.py", "/setup/permissions.json"]
    assert job["args"] == ["--services=auth,gateway,history,inference"]
    env = _env(job)
    assert env["RABBITMQ_MANAGEMENT_URL"]["secretKeyRef"] == {"name": "rabbitmq-management", "key": "url"}
    for svc in SERVICES:
        used = _env(_container(all_on, "Deployment", f"parley-{svc}"))["AMQP_URL"]["secretKeyRef"]
        made = env[f"PARLEY_BROKER_URL_{svc.upper()}"]["secretKeyRef"]
        # The same Secret, or (created by this chart) the hook copy of the same URL.
        assert made == used or _secret_value(all_on, made) == _secret_value(all_on, used), svc
    data = all_on.get("ConfigMap", "parley-broker-users")["data"]
    assert json.loads(data["permissions.json"]) == json.loads(TABLE.read_text())
    hooks = [
        all_on.get(k, "parley-broker-users")["metadata"]["annotations"]
        for k in ("Job", "ConfigMap", "Secret")
    ]
    assert all(h["helm.sh/hook"] == "pre-install,pre-upgrade" for h in hooks)
    job_weight = int(hooks[0]["helm.sh/hook-weight"])
    assert all(int(h["helm.sh/hook-weight"]) < job_weight for h in hooks[1:])
    migrate = all_on.get("Job", "parley-auth-migrate")["metadata"]["annotations"]
    assert job_weight < int(migrate["helm.sh/hook-weight"])


def test_the_users_job_needs_the_management_secret(helm: Path) -> None:
    done = subprocess.run(
        [str(helm), "template", "parley", str(CHART), "--set", "broker.users.create=true"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "broker.users.managementSecret" in done.stderr


def test_compose_gives_each_service_its_own_user() -> None:
    done = _compose(COMPOSE_SECRETS)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    users = _table_users()
    setup = services["rabbitmq-users"]
    for svc, user in users.items():
        url = services[svc]["environment"]["AMQP_URL"]
        assert urlsplit(url).username == user, svc
        assert setup["environment"][f"PARLEY_BROKER_URL_{svc.upper()}"] == url
        assert services[svc]["depends_on"]["rabbitmq-users"]["condition"] == "service_completed_successfully"
    # No other container holds a broker credential (the migrations need none).
    holders = {name for name, s in services.items() if "AMQP_URL" in (s.get("environment") or {})}
    assert holders == set(users)


# --- no accepted default for a secret ----------------------------------------------------------


@pytest.mark.parametrize("missing", sorted(COMPOSE_SECRETS))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    done = _compose({k: v for k, v in COMPOSE_SECRETS.items() if k != missing})
    assert done.returncode != 0
    assert missing in done.stderr


def test_no_shipped_catalogue_secret() -> None:
    for path in [DEPLOY / "compose.yaml", CHART / "values.yaml"]:
        assert "change-me-catalog-secret" not in path.read_text(), path


# --- trusted proxies ---------------------------------------------------------------------------


def test_gateway_and_auth_trust_the_same_proxies_never_a_wildcard(both: Rendered) -> None:
    gateway = _env(_container(both, "Deployment", "parley-gateway"))["PARLEY_GATEWAY_TRUSTED_PROXIES"]
    auth = _env(_container(both, "Deployment", "parley-auth"))["PARLEY_AUTH_FORWARDED_ALLOW_IPS"]
    assert gateway == auth
    assert "*" not in gateway
    for cidr in gateway.split(","):
        ipaddress.ip_network(cidr)


def test_a_wildcard_proxy_is_refused(render: Callable[..., Rendered], helm: Path) -> None:
    with pytest.raises(AssertionError, match="trustedProxies"):
        render(None, "trustedProxies={*}")
    values = CHART / "values.yaml"
    assert '"*"' not in values.read_text().split("trustedProxies:")[1].splitlines()[0]


def test_no_proxies_means_none_believed(render: Callable[..., Rendered]) -> None:
    rendered = render(None, "trustedProxies=null")
    assert "PARLEY_GATEWAY_TRUSTED_PROXIES" not in _env(_container(rendered, "Deployment", "parley-gateway"))
    assert "PARLEY_AUTH_FORWARDED_ALLOW_IPS" not in _env(_container(rendered, "Deployment", "parley-auth"))


# --- egress ------------------------------------------------------------------------------------


def _reaches(rule: dict[str, Any], address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not rule.get("to"):
        return True
    for peer in rule["to"]:
        block = peer.get("ipBlock")
        if block is None:
            continue  # a pod or namespace selector: in-cluster pods, not an address range
        inside = address in ipaddress.ip_network(block["cidr"])
        if inside and not any(address in ipaddress.ip_network(e) for e in block.get("except", [])):
            return True
    return False


def _egress(rendered: Rendered, svc: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = rendered.get("NetworkPolicy", f"parley-{svc}")["spec"]["egress"]
    return rules


def _base_ports(rule: dict[str, Any]) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


def test_workers_reach_neither_the_metadata_address_nor_private_ranges(both: Rendered) -> None:
    for rule in _egress(both, "inference"):
        if _base_ports(rule) <= {53, 5672}:
            continue  # DNS and the broker
        assert rule.get("to"), rule
        assert not _reaches(rule, METADATA), rule
        for address in PRIVATE:
            assert not _reaches(rule, address), (rule, address)


def test_a_worker_egress_rule_without_destinations_is_refused(render: Callable[..., Rendered]) -> None:
    with pytest.raises(AssertionError, match="/inference/egress/0"):
        render(None, "inference.egress[0].ports[0].port=443")
    with pytest.raises(AssertionError):
        render(None, "inference.egress[0].to=null")


@pytest.mark.parametrize("svc", ["auth", "history"])
def test_database_services_reach_dns_the_broker_their_database_and_auth_only(
    both: Rendered, svc: str
) -> None:
    ports = set().union(*(_base_ports(rule) for rule in _egress(both, svc)))
    assert ports <= {53, 5672, 5432, 8001, 443}
    assert 80 not in ports


# --- history: owner and runtime roles, the audit key ------------------------------------------


def test_history_migrates_as_owner_and_runs_as_the_runtime_role(default: Rendered) -> None:
    job = _env(_container(default, "Job", "parley-history-migrate"))
    pod = _env(_container(default, "Deployment", "parley-history"))
    owner = _secret_value(default, job["PARLEY_HISTORY_DATABASE_URL"]["secretKeyRef"])
    runtime = _secret_value(default, pod["PARLEY_HISTORY_DATABASE_URL"]["secretKeyRef"])
    assert owner is not None
    assert runtime is not None
    assert urlsplit(owner).username != urlsplit(runtime).username
    assert job["PARLEY_HISTORY_RUNTIME_ROLE"] == urlsplit(runtime).username
    assert "PARLEY_HISTORY_RUNTIME_ROLE" not in pod


def test_history_reads_the_audit_key_from_a_secret(all_on: Rendered, render: Callable[..., Rendered]) -> None:
    env = _env(_container(all_on, "Deployment", "parley-history"))
    assert env["PARLEY_HISTORY_AUDIT_KEY"]["secretKeyRef"] == {
        "name": "parley-history-audit-key",
        "key": "audit-key",
    }
    own = render(None, "history.auditKey.value=a-long-random-audit-key")
    ref = _env(_container(own, "Deployment", "parley-history"))["PARLEY_HISTORY_AUDIT_KEY"]["secretKeyRef"]
    assert _secret_value(own, ref) == "a-long-random-audit-key"


def test_compose_history_migrates_as_owner() -> None:
    services = json.loads(_compose(COMPOSE_SECRETS).stdout)["services"]
    migrate, serve = services["history-migrate"]["environment"], services["history"]["environment"]
    assert urlsplit(migrate["PARLEY_HISTORY_DATABASE_URL"]).username == "parley_history_owner"
    assert urlsplit(serve["PARLEY_HISTORY_DATABASE_URL"]).username == "parley_history"
    assert migrate["PARLEY_HISTORY_RUNTIME_ROLE"] == "parley_history"
    assert serve["PARLEY_HISTORY_AUDIT_KEY"] == COMPOSE_SECRETS["PARLEY_HISTORY_AUDIT_KEY"]
    script = (DEPLOY / "postgres" / "init-databases.sh").read_text()
    assert re.search(r"^database parley_history parley_history_owner$", script, re.M)
    assert re.search(r"^role parley_history ", script, re.M)


def _manifests_with_env(rendered: Rendered) -> list[Manifest]:
    return rendered.of_kind("Deployment") + rendered.of_kind("Job")


def test_no_pod_gets_a_password_placeholder_as_a_broker_user(default: Rendered) -> None:
    for manifest in _manifests_with_env(default):
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            for value in _env(container).values():
                assert not (isinstance(value, str) and value.startswith("amqp://")), manifest["metadata"][
                    "name"
                ]
    assert yaml.safe_load((CHART / "values.yaml").read_text())["broker"]["users"]["create"] is False


# --- the gateway's operations port -------------------------------------------------------------


def test_gateway_probes_and_metrics_use_the_operations_port(both: Rendered) -> None:
    gateway = _container(both, "Deployment", "parley-gateway")
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    assert int(_env(gateway)["PARLEY_GATEWAY_OPS_PORT"]) == ports["ops"] != ports["http"]
    assert gateway["livenessProbe"]["httpGet"]["port"] == "ops"
    assert gateway["readinessProbe"]["httpGet"]["port"] == "ops"
    (ingress,) = both.of_kind("Ingress")
    backends = {p["backend"]["service"]["port"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert backends == {"http"}
    monitor = both.find("ServiceMonitor", "parley-gateway")
    if monitor is not None:
        assert monitor["spec"]["endpoints"][0]["port"] == "ops"


def test_compose_checks_and_scrapes_the_gateway_on_its_operations_port() -> None:
    services = json.loads(_compose(COMPOSE_SECRETS).stdout)["services"]
    gateway = services["gateway"]
    ops = gateway["environment"]["PARLEY_GATEWAY_OPS_PORT"]
    assert gateway["environment"]["PARLEY_HEALTHCHECK_URL"] == f"http://127.0.0.1:{ops}/healthz"
    assert [int(p["target"]) for p in gateway["ports"]] == [8000]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "gateway"]
    assert job["static_configs"][0]["targets"] == [f"gateway:{ops}"]
