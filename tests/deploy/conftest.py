"""Fixtures of the deployment tests: the chart rendered by the real helm (extracted by
tools/fetch_helm.py into .tools/), parsed into manifests. No cluster, no Docker engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "parley"
ALL_ON = CHART / "ci" / "all-on-values.yaml"
BIN = Path(sys.executable).parent

Manifest = dict[str, Any]


class Rendered:
    """The manifests of one `helm template`, looked up by kind and name."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.docs: list[Manifest] = [d for d in yaml.safe_load_all(text) if d]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def find(self, kind: str, name: str) -> Manifest | None:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        return found[0] if found else None


@pytest.fixture(scope="session")
def helm() -> Path:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fetch_helm.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., Rendered]:
    """`render(values_file=None, "key=value", ...)`: the chart as release `parley`."""

    def _render(values: Path | None = None, *sets: str) -> Rendered:
        args = [str(helm), "template", "parley", str(CHART)]
        if values is not None:
            args += ["-f", str(values)]
        for item in sets:
            args += ["--set", item]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return Rendered(done.stdout)

    return _render


@pytest.fixture(scope="session")
def default(render: Callable[..., Rendered]) -> Rendered:
    return render()


@pytest.fixture(scope="session")
def all_on(render: Callable[..., Rendered]) -> Rendered:
    return render(ALL_ON)


@pytest.fixture(params=["default", "all_on"])
def both(request: pytest.FixtureRequest) -> Rendered:
    rendered: Rendered = request.getfixturevalue(request.param)
    return rendered
