"""The Helm chart deploy/helm/parley, read from its rendered manifests (helm template).

What matters in production: the autoscaling branch (KEDA on queue depth vs an HPA on CPU),
disruption budgets, probes, the workers' drain, security contexts, NetworkPolicies,
migrations as hook Jobs, secrets and the Ingress.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from .conftest import ALL_ON, CHART, Manifest, Rendered

SERVICES = ["gateway", "inference", "auth", "history"]
KUBERNETES_VERSION = "1.35.0"


def _name(svc: str) -> str:
    return f"parley-{svc}"


def _pod(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _pod_templates(rendered: Rendered) -> list[Manifest]:
    return rendered.of_kind("Deployment") + rendered.of_kind("Job")


# --- the two values files render, lint and validate ------------------------------------------


@pytest.mark.parametrize("values", [None, ALL_ON], ids=["default", "all-on"])
def test_helm_lint_strict(helm: Any, values: Any) -> None:
    args = [str(helm), "lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# Subsets of the custom resources' CRD schemas (KEDA 2.x, Prometheus Operator), which
# kubernetes-validate does not carry: the fields this chart sets, with their types.
_CUSTOM_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "properties": {
                    "scaleTargetRef": {"type": "object", "required": ["name"]},
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer"},
                    "cooldownPeriod": {"type": "integer"},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "authenticationRef": {"type": "object", "required": ["name"]},
                            },
                        },
                    },
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "spec": {
                "type": "object",
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {"type": "object", "required": ["parameter", "name", "key"]},
                    }
                },
            },
        },
    },
    "ServiceMonitor": {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "endpoints": {
                        "type": "array",
                        "items": {"type": "object", "required": ["port"]},
                    }
                },
            },
        },
    },
}


def test_rendered_manifests_validate_against_kubernetes_schemas(both: Rendered) -> None:
    for doc in both.docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            jsonschema.validate(doc, _CUSTOM_SCHEMAS[doc["kind"]])


def test_the_validator_does_reject_a_broken_manifest(default: Rendered) -> None:
    broken = yaml.safe_load(yaml.safe_dump(default.get("Deployment", _name("gateway"))))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_values_schema_refuses_unknown_keys_and_wrong_types(render: Callable[..., Rendered]) -> None:
    for bad in ["gateway.replica=2", "inference.autoscaling.keda.enabled=yes", "broker.gateway.url=http://x"]:
        with pytest.raises(AssertionError, match="schema"):
            render(None, bad)


# --- autoscaling -------------------------------------------------------------------------------


def test_default_inference_scales_on_cpu_without_keda(default: Rendered) -> None:
    assert default.of_kind("ScaledObject") == []
    assert default.of_kind("TriggerAuthentication") == []
    hpa = default.get("HorizontalPodAutoscaler", _name("inference"))
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": _name("inference"),
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # The HPA owns the replica count.
    assert "replicas" not in default.get("Deployment", _name("inference"))["spec"]


def test_keda_scales_inference_on_the_depth_of_each_model_queue(all_on: Rendered) -> None:
    assert all_on.find("HorizontalPodAutoscaler", _name("inference")) is None
    scaled = all_on.get("ScaledObject", _name("inference"))
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == _name("inference")
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 50)
    triggers = {t["metadata"]["queueName"]: t for t in spec["triggers"]}
    assert set(triggers) == {"inference.requests.gpt-4o-mini", "inference.requests.qwen-plus"}
    for trigger in triggers.values():
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["mode"] == "QueueLength"
    # Waiting prompts per worker default to the model's concurrency in one worker: the workers'
    # default (8 in the all-on values) unless the model's entry sets one (qwen-plus: 16).
    worker = _pod(all_on.get("Deployment", _name("inference")))["containers"][0]
    assert _env(worker)["PARLEY_INFERENCE_CONCURRENCY"] == "8"
    assert triggers["inference.requests.gpt-4o-mini"]["metadata"]["value"] == "8"
    assert triggers["inference.requests.qwen-plus"]["metadata"]["value"] == "16"
    trigger = triggers["inference.requests.gpt-4o-mini"]
    auth = all_on.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    # KEDA reads the same AMQP URL as the workers.
    assert ref["parameter"] == "host"
    assert {"name": ref["name"], "key": ref["key"]} == _env(worker)["AMQP_URL"]["secretKeyRef"]


def test_keda_messages_per_worker_can_be_set(render: Callable[..., Rendered]) -> None:
    rendered = render(
        None,
        "inference.autoscaling.keda.enabled=true",
        "inference.autoscaling.keda.messagesPerWorker=2",
    )
    (trigger,) = rendered.get("ScaledObject", _name("inference"))["spec"]["triggers"]
    assert trigger["metadata"]["value"] == "2"


def test_keda_watches_the_named_models_when_the_models_file_is_external(
    render: Callable[..., Rendered],
) -> None:
    rendered = render(
        None,
        "inference.autoscaling.keda.enabled=true",
        "inference.existingModelsConfigMap=my-models",
        "inference.autoscaling.keda.models={local,big}",
    )
    triggers = rendered.get("ScaledObject", _name("inference"))["spec"]["triggers"]
    assert [t["metadata"]["queueName"] for t in triggers] == [
        "inference.requests.local",
        "inference.requests.big",
    ]


def test_keda_can_watch_every_model_queue_for_models_added_at_run_time(
    render: Callable[..., Rendered],
) -> None:
    rendered = render(
        None,
        "inference.autoscaling.keda.enabled=true",
        "inference.existingModelsConfigMap=my-models",  # no model names needed
        "inference.autoscaling.keda.everyModel.enabled=true",
        "inference.autoscaling.keda.everyModel.existingSecret=rabbitmq-management",
        "inference.autoscaling.keda.everyModel.messagesPerWorker=5",
    )
    (trigger,) = rendered.get("ScaledObject", _name("inference"))["spec"]["triggers"]
    meta = trigger["metadata"]
    assert (meta["protocol"], meta["useRegex"], meta["operation"]) == ("http", "true", "sum")
    assert meta["value"] == "5"
    pattern = re.compile(meta["queueName"])
    assert pattern.fullmatch("inference.requests.added-at-run-time")
    assert not pattern.fullmatch("inference.dead")
    assert not pattern.fullmatch("history.events")
    auth = rendered.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert (ref["parameter"], ref["name"], ref["key"]) == ("host", "rabbitmq-management", "url")


def _template_refused(helm: Path, *sets: str) -> str:
    """`helm template` with KEDA on and `sets`, which must fail: its error output."""
    values = ("inference.autoscaling.keda.enabled=true", *sets)
    flags = [flag for value in values for flag in ("--set", value)]
    result = subprocess.run(
        [str(helm), "template", "parley", str(CHART), *flags], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0, result.stdout[-2000:]
    return result.stderr


def test_keda_on_every_model_without_the_management_secret_is_refused(helm: Path) -> None:
    refused = _template_refused(helm, "inference.autoscaling.keda.everyModel.enabled=true")
    assert "inference.autoscaling.keda.everyModel.existingSecret" in refused


def test_keda_without_models_to_watch_is_refused_with_a_clear_message(helm: Path) -> None:
    refused = _template_refused(helm, "inference.existingModelsConfigMap=my-models")
    assert "inference.autoscaling.keda.models" in refused


def test_without_autoscaling_the_replica_counts_are_fixed(render: Callable[..., Rendered]) -> None:
    rendered = render(
        None,
        "inference.autoscaling.enabled=false",
        "inference.autoscaling.keda.enabled=true",
        "gateway.autoscaling.enabled=false",
        "inference.replicas=3",
    )
    assert rendered.of_kind("HorizontalPodAutoscaler") == []
    assert rendered.of_kind("ScaledObject") == []
    assert rendered.get("Deployment", _name("inference"))["spec"]["replicas"] == 3
    assert rendered.get("Deployment", _name("gateway"))["spec"]["replicas"] == 2


def test_gateway_hpa_on_cpu_and_optionally_open_sockets(default: Rendered, all_on: Rendered) -> None:
    metrics = default.get("HorizontalPodAutoscaler", _name("gateway"))["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource"]
    metrics = all_on.get("HorizontalPodAutoscaler", _name("gateway"))["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Pods"]
    assert metrics[1]["pods"]["metric"]["name"] == "parley_gateway_open_sockets"


def test_worker_pods_outlive_their_drain(both: Rendered) -> None:
    pod = _pod(both.get("Deployment", _name("inference")))
    drain = int(_env(pod["containers"][0])["PARLEY_INFERENCE_SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] >= drain + 10


# --- availability ------------------------------------------------------------------------------


@pytest.mark.parametrize("svc", SERVICES)
def test_every_service_has_a_pdb_selecting_its_pods(both: Rendered, svc: str) -> None:
    pdb = both.get("PodDisruptionBudget", _name(svc))
    labels = both.get("Deployment", _name(svc))["spec"]["template"]["metadata"]["labels"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])


@pytest.mark.parametrize("svc", SERVICES)
def test_probes_hit_healthz_and_readyz(both: Rendered, svc: str) -> None:
    (container,) = _pod(both.get("Deployment", _name(svc)))["containers"]
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz"
    # The worker answers both on its metrics port, its only HTTP server.
    assert ready["path"] == "/readyz"
    ports = {p["name"] for p in container["ports"]}
    assert {live["port"], ready["port"]} <= ports


# --- security ----------------------------------------------------------------------------------


def test_every_pod_runs_non_root_read_only_without_escalation(both: Rendered) -> None:
    templates = _pod_templates(both)
    # four services, two migration Jobs, and (all-on) the broker users' Job
    assert len(templates) == (7 if both.find("Job", "parley-broker-users") else 6)
    for manifest in templates:
        pod = _pod(manifest)
        where = manifest["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        assert pod["automountServiceAccountToken"] is False, where
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            # A read-only root needs a writable /tmp.
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where
            assert "resources" in container, where


def test_every_service_has_a_network_policy(both: Rendered) -> None:
    for svc in SERVICES:
        policy = both.get("NetworkPolicy", _name(svc))
        labels = both.get("Deployment", _name(svc))["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def _ports(rules: list[dict[str, Any]]) -> set[Any]:
    return {p["port"] for rule in rules for p in rule.get("ports", [])}


def test_only_the_gateway_takes_traffic_from_anywhere(both: Rendered) -> None:
    gateway = both.get("NetworkPolicy", _name("gateway"))["spec"]["ingress"]
    # From anywhere: the public port only; the operations port (/metrics) from Prometheus.
    assert [rule for rule in gateway if not rule.get("from")] == [
        {"ports": [{"port": "http", "protocol": "TCP"}]}
    ]
    assert {p["port"] for rule in gateway if rule.get("from") for p in rule["ports"]} == {"ops"}
    for svc in ["inference", "auth", "history"]:
        rules = both.get("NetworkPolicy", _name(svc))["spec"]["ingress"]
        assert rules, svc
        assert all(rule.get("from") for rule in rules), svc
    inference = both.get("NetworkPolicy", _name("inference"))["spec"]["ingress"]
    assert _ports(inference) == {"metrics"}


def test_only_auth_and_history_reach_a_database(both: Rendered) -> None:
    for svc in SERVICES:
        egress = both.get("NetworkPolicy", _name(svc))["spec"]["egress"]
        assert (5432 in _ports(egress)) == (svc in {"auth", "history"}), svc
        assert 5672 in _ports(egress), svc


def test_in_cluster_databases_admit_only_their_service(all_on: Rendered, default: Rendered) -> None:
    assert default.find("NetworkPolicy", "parley-auth-database") is None
    selectors = {"auth": {"cnpg.io/cluster": "parley-auth"}, "history": {"app": "history-postgresql"}}
    for svc, selector in selectors.items():
        policy = all_on.get("NetworkPolicy", f"parley-{svc}-database")
        assert policy["spec"]["podSelector"]["matchLabels"] == selector
        (rule,) = policy["spec"]["ingress"]
        peers = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
        components = {labels["app.kubernetes.io/component"] for labels in peers}
        assert components == {svc, f"{svc}-migrate"}


# --- migrations, secrets, config -------------------------------------------------------------


@pytest.mark.parametrize("svc", ["auth", "history"])
def test_migrations_run_as_hook_jobs_before_the_release(both: Rendered, svc: str) -> None:
    job = both.get("Job", f"parley-{svc}-migrate")
    notes = job["metadata"]["annotations"]
    assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = _pod(job)
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["args"] == ["migrate"]
    ref = _env(container)[f"PARLEY_{svc.upper()}_DATABASE_URL"]["secretKeyRef"]
    secret = both.find("Secret", ref["name"])
    if secret is None:  # an existing Secret (all-on values: auth's, and history's owner)
        assert ref in (
            {"name": "parley-auth-app", "key": "uri"},
            {"name": "parley-history-owner", "key": "uri"},
        )
    else:  # a hook Secret created before the Job
        hook = secret["metadata"]["annotations"]
        assert hook["helm.sh/hook"] == notes["helm.sh/hook"]
        assert int(hook["helm.sh/hook-weight"]) < int(notes["helm.sh/hook-weight"])


def test_database_urls_and_keys_live_in_secrets(both: Rendered) -> None:
    for svc in SERVICES:
        for name, value in _env(_pod(both.get("Deployment", _name(svc)))["containers"][0]).items():
            if name == "AMQP_URL" or name.endswith("_DATABASE_URL"):
                assert "secretKeyRef" in value, (svc, name)
    for config in both.of_kind("ConfigMap"):
        assert "postgresql://" not in yaml.safe_dump(config)


def test_provider_keys_and_models_file(all_on: Rendered, default: Rendered) -> None:
    assert default.find("Secret", "parley-inference-providers") is None
    keys = all_on.get("Secret", "parley-inference-providers")["stringData"]
    assert set(keys) == {"OPENAI_API_KEY", "DASHSCOPE_API_KEY"}
    pod = _pod(all_on.get("Deployment", _name("inference")))
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "parley-inference-providers"}}]
    models = yaml.safe_load(all_on.get("ConfigMap", "parley-inference-models")["data"]["models.yaml"])
    assert {m["api_key_env"] for m in models["models"]} <= set(keys)
    volume = next(v for v in pod["volumes"] if v["name"] == "models")
    assert volume["configMap"]["name"] == "parley-inference-models"
    assert _env(pod["containers"][0])["PARLEY_MODELS_FILE"] == "/etc/parley/models.yaml"


def test_ingress_routes_and_websocket_timeouts(both: Rendered) -> None:
    (ingress,) = both.of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes == {
        "/ws": _name("gateway"),
        "/": _name("gateway"),
        "/api/auth": _name("auth"),
        "/api/history": _name("history"),
    }
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600


def test_service_monitors_only_when_enabled(default: Rendered, all_on: Rendered) -> None:
    assert default.of_kind("ServiceMonitor") == []
    monitors = {m["metadata"]["name"]: m for m in all_on.of_kind("ServiceMonitor")}
    assert set(monitors) == {_name(s) for s in SERVICES}
    for svc, monitor in monitors.items():
        service = all_on.get("Service", svc)
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_images_follow_registry_and_tag(default: Rendered, all_on: Rendered) -> None:
    image = _pod(default.get("Deployment", _name("gateway")))["containers"][0]["image"]
    assert re.fullmatch(r"parley/gateway:\d+\.\d+\.\d+", image)
    image = _pod(all_on.get("Deployment", _name("history")))["containers"][0]["image"]
    assert image == "registry.example.com/parley/parley/history:1.2.3"


def test_services_can_be_switched_off(render: Callable[..., Rendered]) -> None:
    rendered = render(None, "history.enabled=false", "inference.enabled=false")
    names = {d["metadata"]["name"] for d in rendered.docs}
    assert not any("history" in n or "inference" in n for n in names)
    routes = {p["path"] for p in rendered.of_kind("Ingress")[0]["spec"]["rules"][0]["http"]["paths"]}
    assert routes == {"/ws", "/", "/api/auth"}


# --- documentation -----------------------------------------------------------------------------


def test_every_values_key_is_documented() -> None:
    """Every key up to three levels deep has a `# --` comment above it (or a trailing comment)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    missing = []
    in_list = -1
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if in_list >= 0 and indent > in_list:
            continue  # inside a list of data (e.g. the model entries)
        in_list = -1
        if stripped.startswith("- "):
            in_list = indent - 1
            continue
        match = re.match(r"([A-Za-z0-9_.\-/]+):", stripped)
        if not match or indent > 4 or not stripped or stripped.startswith("#"):
            continue
        above = lines[i - 1].strip() if i else ""
        if not (above.startswith("#") or " # " in line):
            missing.append(f"line {i + 1}: {stripped}")
    assert missing == []


def test_templates_are_named_kind_dash_service() -> None:
    kinds = {
        "deployment", "service", "hpa", "pdb", "servicemonitor", "networkpolicy", "ingress", "job",
        "secret", "configmap", "scaledobject", "triggerauthentication", "serviceaccount",
    }  # fmt: skip
    names = {"gateway", "inference", "auth", "history", "broker", "catalog", "parley"}
    for template in (CHART / "templates").glob("*.yaml"):
        kind, _, svc = template.stem.partition("-")
        assert kind in kinds, template.name
        assert svc in names, template.name


def test_every_service_gets_the_telemetry_settings(all_on: Rendered, default: Rendered) -> None:
    for svc in SERVICES:
        env = _env(_pod(all_on.get("Deployment", _name(svc)))["containers"][0])
        assert env["OTEL_TRACES_EXPORTER"] == "otlp"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
        assert env["PARLEY_LOG_FORMAT"] == "json"
        quiet = _env(_pod(default.get("Deployment", _name(svc)))["containers"][0])
        assert quiet["OTEL_TRACES_EXPORTER"] == "none"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in quiet


def test_auth_and_the_workers_share_the_catalogue_secret(
    all_on: Rendered, render: Callable[..., Rendered]
) -> None:
    for svc in ("auth", "inference"):
        env = _env(_pod(all_on.get("Deployment", _name(svc)))["containers"][0])
        assert env["PARLEY_CATALOG_SECRET"]["secretKeyRef"] == {
            "name": "parley-catalog-managed",
            "key": "catalog-secret",
        }
    own = render(None, "catalog.secret=s3cret")
    secret = own.get("Secret", "parley-catalog")
    assert secret["stringData"] == {"catalog-secret": "s3cret"}
    default = render(None)
    assert default.find("Secret", "parley-catalog") is None
    assert "PARLEY_CATALOG_SECRET" not in _env(
        _pod(default.get("Deployment", _name("auth")))["containers"][0]
    )
