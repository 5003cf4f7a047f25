"""Benchmark results as JSON files under bench/results/ (committed with the
docs that quote them, so that the two agree)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from procstat import busy_processes, loadavg

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_result(path: Path, kind: str, data: dict[str, Any]) -> Path:
    """Write `data` (NaN as null) as `{"kind": kind, ...}` with the load average and the
    busy processes at the end of the run; relative paths are the repo's."""
    data = {**data, "loadavg_end": loadavg(), "busy_end": busy_processes()}
    target = path if path.is_absolute() else ROOT / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"kind": kind, **_clean(data)}, indent=1) + "\n")
    return target


def read_result(path: Path) -> dict[str, Any] | None:
    target = path if path.is_absolute() else ROOT / path
    if not target.exists():
        return None
    data: dict[str, Any] = json.loads(target.read_text())
    return data
