"""The benchmarks' own arithmetic and the report, without servers:
`.venv/bin/python -m pytest -q bench/test_report.py` (part of `make test`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from flood import verdict
from promtext import parse, total
from report import render
from report_targets import targets
from stats import bootstrap_band, quantile, slope
from wsload import RunResult, StreamResult


def test_quantile_is_nearest_rank_and_skips_nan() -> None:
    values = [float(v) for v in range(1, 101)] + [math.nan]
    assert quantile(values, 0.5) == 51.0  # round(0.5 * 99) = 50 -> the 51st value
    assert quantile(values, 0.99) == 99.0
    assert quantile(values, 0.0) == 1.0
    assert math.isnan(quantile([math.nan], 0.5))


def test_slope_of_a_line_and_of_too_few_points() -> None:
    assert slope([0, 1, 2, 3], [5, 7, 9, 11]) == pytest.approx(2.0)
    assert math.isnan(slope([1], [1]))


def test_peak_streams_counts_overlap_and_a_stream_ending_as_another_starts_is_not_overlap() -> None:
    def stream(start: float, end: float) -> StreamResult:
        return StreamResult(1, 10, end - start, ok=True, sent_at=start, ended_at=end)

    run = RunResult("x", [stream(0, 2), stream(1, 3), stream(2, 4), stream(2.5, 5)], wall_s=5)
    assert run.peak_streams == 3  # at 2.5: the 2nd, 3rd and 4th
    assert run.tokens_per_s == 8.0


def test_prometheus_text_sums_samples_by_label() -> None:
    text = (
        "# HELP parley_gateway_prompts_total Prompts\n"
        'parley_gateway_prompts_total{outcome="accepted"} 12.0\n'
        'parley_gateway_prompts_total{outcome="rate_limited"} 3.0\n'
        'parley_gateway_prompts_created{outcome="accepted"} 1.7e9\n'
        "parley_inference_deltas_published_total 40.0\n"
    )
    samples = parse(text)
    assert total(samples, "parley_gateway_prompts_total") == 15.0
    assert total(samples, "parley_gateway_prompts_total", outcome="accepted") == 12.0
    assert total(samples, "parley_inference_deltas_published_total") == 40.0


def test_flood_verdict_compares_with_the_quiet_phases_band_at_the_same_sample_size() -> None:
    quiet = [[10.0 + i % 10 for i in range(200)], [10.5 + i % 10 for i in range(200)]]
    same = [10.2 + i % 10 for i in range(200)]
    assert verdict(quiet, same, 0.5)["unchanged"]
    assert verdict(quiet, same, 0.99)["unchanged"]
    slower = [v + 3.0 for v in same]
    judged = verdict(quiet, slower, 0.5)
    assert not judged["unchanged"]
    assert judged["band_ms"][0] <= judged["quiet"][0] <= judged["band_ms"][1]
    assert verdict(quiet, [v - 5.0 for v in same], 0.99)["unchanged"]  # faster: noise, not harm
    drifted = [[10.0 + i % 10 for i in range(200)], [12.0 + i % 10 for i in range(200)]]
    between = verdict(drifted, [11.8 + i % 10 for i in range(200)], 0.5)
    assert between["band_ms"][1] < between["flooded"]  # above the band, below a quiet phase
    assert between["unchanged"]


def test_a_bootstrap_band_widens_as_the_sample_shrinks_and_is_repeatable() -> None:
    values = [float(i) for i in range(1000)]
    wide = bootstrap_band(values, 0.99, 50)
    narrow = bootstrap_band(values, 0.99, 5000)
    assert wide[1] - wide[0] > narrow[1] - narrow[0]
    assert narrow[0] <= 990 <= narrow[1]
    assert bootstrap_band(values, 0.99, 50) == wide
    assert all(math.isnan(v) for v in bootstrap_band([], 0.5, 10))


def _cell(config: str, n: int, ttft50: float, ttft99: float, tps: float, **extra: Any) -> dict[str, Any]:
    return {
        "config": config,
        "streams": n,
        "rounds": 1,
        "prompts": n,
        "peak_streams": n,
        "ttft_p50_ms": ttft50,
        "ttft_p99_ms": ttft99,
        "tokens_per_s": tps,
        "slowest_stream_rate": 49.8,
        "errors": 0,
        "error_samples": [],
        "cpu_percent": {"provider": 20.0, "gateway": 95.0, "loadgen": 30.0},
        "busiest": "gateway",
        "loadavg": [1.0, 1.0, 1.0],
        "rss_per_idle_session_kb": 40.0,
        "rss_per_streaming_session_kb": 60.0,
        **extra,
    }


def _matrix() -> dict[str, Any]:
    return {
        "kind": "matrix",
        "command": "python bench/stream_bench.py",
        "machine": {"cores": 2, "loadavg": [0.5, 0.5, 0.5]},
        "loadavg_end": [1.0, 1.0, 1.0],
        "settings": {"tokens": 100, "rate": 50.0, "ramp_per_stream_s": 0.004, "rounds": 3},
        "cells": [
            _cell("direct", 200, 2.0, 10.0, 9800.0),
            _cell("parley-1w", 200, 5.5, 25.0, 9500.0, workers=1, gateways=1, broker_messages_per_token=0.42),
            _cell("parley-2w", 200, 9.0, 40.0, 9000.0, workers=2, gateways=1, broker_messages_per_token=0.43),
        ],
    }


def test_targets_judge_added_ttft_and_throughput_against_the_baseline_of_the_same_n() -> None:
    found = {t.target: t for t in targets({"matrix": _matrix()})}
    p50 = found["added TTFT p50 under 5 ms at 200 streams"]
    assert p50.met is False  # 1w adds +3.5 ms, 2w +7.0 ms
    assert "parley-2w" in p50.why
    assert "parley-1w" not in p50.why
    p99 = found["added TTFT p99 under 20 ms at 200 streams"]
    assert p99.met is False
    assert "parley-2w" in p99.why
    tokens = found["tokens/s at least 0.95 of the baseline, every stream at the source's rate (N ≤ 200)"]
    assert tokens.met is False  # 9,000 / 9,800 = 0.92


def test_report_renders_the_tables_and_plots_from_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "matrix.json").write_text(json.dumps(_matrix()))
    text = render(results, tmp_path / "benchmarks.md", tmp_path / "plots")
    assert "## Targets of the issue" in text
    assert "| 200 | parley-1w | 5.5 (\u00d72.75)" in text
    assert (tmp_path / "plots" / "ttft.png").stat().st_size > 0
    assert (tmp_path / "plots" / "throughput.png").stat().st_size > 0


def _window_run(config: str, rep: int, ttft: float, msgs: float, gateway_cpu: float) -> dict[str, Any]:
    return {
        "config": config,
        "rep": rep,
        "ttft_p50_ms": ttft,
        "ttft_p99_ms": ttft * 2,
        "tokens_per_s": 7000.0,
        "broker_messages_per_token": msgs,
        "cpu_ms_per_1k_tokens": {"gateway": gateway_cpu, "worker-1": 70.0},
    }


def test_report_compares_the_window_and_the_request_cost_to_their_baselines(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    window = {
        "command": "python bench/window_bench.py",
        "streams": 200,
        "runs": [
            _window_run("fixed 50 ms", 0, 200.0, 0.4, 50.0),
            _window_run("widening (default)", 0, 100.0, 0.2, 25.0),
        ],
    }
    requests = {
        "command": "python bench/provider_requests.py",
        "rows": [{"messages": 100, "sdk_us": 40_000, "parley_us": 2_000}],
    }
    (results / "window.json").write_text(json.dumps(window))
    (results / "provider_requests.json").write_text(json.dumps(requests))
    text = render(results, tmp_path / "benchmarks.md", tmp_path / "plots")
    assert "| widening (default) | 1 | 100.0 (\u00d70.50) |" in text
    assert "25.0 (\u00d70.50)" in text  # the gateway's CPU per 1k tokens
    assert "| 100 | 40,000 | 2,000 (\u00d70.05) |" in text
