"""What the workers under test are given: the `start_worker` fixture's type, their
models file and the runtime catalogues auth would publish."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import yaml

from parley_contracts.catalog import SYSTEM_USER, CatalogModel, CatalogProvider, CatalogUpdated
from parley_inference.entrypoints.worker import Worker
from parley_testkit import FakeProvider

StartWorker = Callable[..., Awaitable[Worker]]
"""The `start_worker` fixture: starts an in-process worker, its settings overridden by keyword."""


def served_by(provider: FakeProvider, name: str, **fields: object) -> dict[str, object]:
    """A models file entry: `name`, served by `provider` as `upstream-<name>-model`."""
    return {"name": name, "base_url": provider.base_url, "model": f"upstream-{name}-model", **fields}


def write_models_file(directory: Path, *models: Mapping[str, object]) -> Path:
    """`models.yaml` in `directory`, listing `models` in order."""
    path = directory / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [dict(m) for m in models]}, sort_keys=False), encoding="utf-8")
    return path


def catalogue(revision: int, provider: CatalogProvider, *models: CatalogModel) -> CatalogUpdated:
    """A `catalog.updated` as auth publishes it, with one provider."""
    return CatalogUpdated(user_id=SYSTEM_USER, revision=revision, providers=(provider,), models=models)
