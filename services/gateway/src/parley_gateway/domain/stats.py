"""Admin statistics (pure): usage totals from auth's ledger, latency
percentiles from the `completion.finished` events this gateway saw, and the
live picture from heartbeats and queue depths."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of values sorted ascending (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _summary(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"count": len(ordered), **{f"p{p}": percentile(ordered, p) for p in PERCENTILES}}


@dataclass(frozen=True, slots=True)
class Finished:
    model: str
    ttft_ms: float | None
    tokens_per_s: float | None


class LatencyWindow:
    """The last `size` finished answers, for TTFT and decode-rate percentiles."""

    def __init__(self, size: int = 10_000) -> None:
        self._items: deque[Finished] = deque(maxlen=size)

    def add(self, item: Finished) -> None:
        self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)

    def summary(self) -> dict[str, Any]:
        by_model: dict[str, list[Finished]] = defaultdict(list)
        for item in self._items:
            by_model[item.model].append(item)

        def describe(items: Sequence[Finished]) -> dict[str, Any]:
            return {
                "ttft_ms": _summary(i.ttft_ms for i in items if i.ttft_ms is not None),
                "tokens_per_s": _summary(i.tokens_per_s for i in items if i.tokens_per_s is not None),
            }

        return {
            "window": len(self._items),
            "all": describe(list(self._items)),
            "by_model": {model: describe(items) for model, items in sorted(by_model.items())},
        }


def _totals() -> dict[str, float]:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}


def summarise_usage(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Auth's usage rows (user, model, day) totalled per day, per model and per user."""
    groups: dict[str, dict[str, dict[str, float]]] = {"by_day": {}, "by_model": {}, "by_user": {}}
    keys = {"by_day": "day", "by_model": "model", "by_user": "user_id"}
    for row in rows:
        for group, field in keys.items():
            totals = groups[group].setdefault(str(row[field]), _totals())
            for name in ("requests", "prompt_tokens", "completion_tokens", "cost"):
                totals[name] += row.get(name) or 0
    return {
        group: [{keys[group]: key, **totals} for key, totals in sorted(items.items())]
        for group, items in groups.items()
    }
