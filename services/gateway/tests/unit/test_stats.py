"""Admin statistics (pure): percentiles, the latency window, usage totals."""

from __future__ import annotations

from parley_gateway.domain.stats import Finished, LatencyWindow, percentile, summarise_usage


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_the_window_keeps_the_latest_answers_per_model() -> None:
    window = LatencyWindow(size=3)
    window.add(Finished("a", 999.0, 1.0))  # pushed out by the three after it
    window.add(Finished("a", 100.0, 50.0))
    window.add(Finished("b", 300.0, None))
    window.add(Finished("a", 200.0, 70.0))
    summary = window.summary()
    assert summary["window"] == 3
    assert summary["all"]["ttft_ms"] == {"count": 3, "p50": 200.0, "p95": 300.0, "p99": 300.0}
    assert summary["by_model"]["a"]["tokens_per_s"] == {"count": 2, "p50": 50.0, "p95": 70.0, "p99": 70.0}
    assert summary["by_model"]["b"]["tokens_per_s"]["count"] == 0


def test_usage_rows_are_totalled_per_day_model_and_user() -> None:
    row = {"requests": 1, "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5}
    rows = [
        {"user_id": "u1", "model": "m1", "day": "2026-11-25", **row},
        {"user_id": "u1", "model": "m2", "day": "2026-11-26", **row},
        {"user_id": "u2", "model": "m1", "day": "2026-11-26", **row},
    ]
    totals = summarise_usage(rows)
    assert [d["day"] for d in totals["by_day"]] == ["2026-11-25", "2026-11-26"]
    assert totals["by_day"][1]["completion_tokens"] == 10
    assert {m["model"]: m["requests"] for m in totals["by_model"]} == {"m1": 2, "m2": 1}
    assert {u["user_id"]: u["cost"] for u in totals["by_user"]} == {"u1": 1.0, "u2": 0.5}
