"""Pure statistics the benchmarks and the report share."""

from __future__ import annotations

import math
import random


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile, NaNs left out; NaN for no values."""
    kept = sorted(v for v in values if not math.isnan(v))
    if not kept:
        return math.nan
    return kept[min(len(kept) - 1, round(q * (len(kept) - 1)))]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline and not math.isnan(baseline) else math.nan


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs; NaN with fewer than two points."""
    n = len(xs)
    if n < 2:
        return math.nan
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return math.nan
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def rounded(value: float, digits: int = 2) -> float | None:
    """JSON-safe: NaN becomes null."""
    return None if math.isnan(value) else round(value, digits)


def bootstrap_band(
    values: list[float], q: float, n: int, *, level: float = 0.95, draws: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Where the `q` quantile of `n` values drawn from `values` (with replacement) falls,
    `level` of the time: the noise of that figure at that sample size. Seeded: the same
    inputs give the same band."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept or n < 1:
        return math.nan, math.nan
    rng = random.Random(seed)
    figures = sorted(quantile(rng.choices(kept, k=n), q) for _ in range(draws))
    tail = (1 - level) / 2
    return quantile(figures, tail), quantile(figures, 1 - tail)
