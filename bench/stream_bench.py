"""The streaming matrix of `make bench`: the direct relay (the baseline, no
broker) and Parley with 1, 2 and 4 inference workers behind one gateway (and 2 workers
behind 2 gateways), at 50, 200 and 1,000 concurrent streams, in one run.

Everything runs on this machine: a provider emitting tokens at a fixed rate
(`parley_testkit.provider`), the direct relay (`bench/direct_relay.py`), and
for each worker count a gateway and its workers on a fresh RabbitMQ vhost,
started once and run at every N. The load generator opens N WebSocket
sessions (and measures the server's memory once they are idle), starts them
over a ramp proportional to N, and each sends a few prompts one after
another. Per cell: time to first text p50/p99, delivered tokens/s, the
slowest stream's rate, errors, broker messages per token (the services' own
counters), server RSS per idle and per streaming session, and CPU % of every
process (100 % = one core). `report.py` turns the JSON into
docs/benchmarks.md, with the ratio of each figure to the baseline's.

    python bench/stream_bench.py [--streams 50 200 1000] [--configs 1w 2w 4w 2w2g]
                                 [--out bench/results/matrix.json]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from benchstack import BenchStack, Counters, Parley, bench_stack
from procstat import CpuMeter, PeakRss, find_pid, loadavg, machine, raise_nofile, rss_kb
from results import write_result
from stats import ratio, rounded
from wsload import RunResult, run_load

Cell = dict[str, Any]


def parse_config(config: str) -> tuple[int, int]:
    """`2w` is 2 workers behind one gateway, `4w2g` 4 workers behind 2 gateways."""
    match = re.fullmatch(r"(\d+)w(?:(\d+)g)?", config)
    if match is None:
        raise argparse.ArgumentTypeError(f"{config!r}: expected e.g. 2w or 4w2g")
    return int(match[1]), int(match[2] or 1)


def _rounds(n: int, rounds: int) -> int:
    """Fewer rounds at 1,000 streams: each prompt there already costs seconds of wall time."""
    return max(1, rounds - 1) if n >= 1000 else rounds


def _ramp(n: int, per_stream_s: float, most_s: float) -> float:
    """Proportional to N, capped: at 1,000 streams a 10 s ramp would outlast the sessions'
    prompts, and the streams would never all run at once."""
    return min(n * per_stream_s, most_s)


def _rss(pids: list[int]) -> int:
    return sum(rss_kb(pid) for pid in pids)


async def measure(
    name: str,
    ws_url: str | list[str],
    stack: BenchStack,
    n: int,
    *,
    server_pids: list[int],
    pids: dict[str, int],
    args: argparse.Namespace,
    parley: Parley | None = None,
) -> Cell:
    """One cell: N sessions open, idle memory measured, then the streams."""
    rss_before = _rss(server_pids)
    meter = CpuMeter(pids)
    peak = PeakRss(server_pids)
    marks: dict[str, Any] = {}

    async def on_open() -> None:
        marks["rss_idle"] = _rss(server_pids)
        marks["counters"] = parley.counters() if parley else None
        meter.start()
        peak.start()

    rounds = _rounds(n, args.rounds)
    ramp_s = _ramp(n, args.ramp_per_stream, args.ramp_most)
    run = await run_load(name, ws_url, stack.issuer, n, ramp_s=ramp_s, rounds=rounds, on_open=on_open)
    cpu = meter.stop()
    rss_peak = await peak.stop()
    cell = _cell(name, n, rounds, run, cpu)
    cell.update(
        ramp_s=ramp_s,
        rss_before_kb=rss_before,
        rss_idle_kb=marks.get("rss_idle"),
        rss_peak_kb=rss_peak,
        rss_per_idle_session_kb=rounded((marks.get("rss_idle", rss_before) - rss_before) / n),
        rss_per_streaming_session_kb=rounded((rss_peak - rss_before) / n),
    )
    if parley is not None:
        used: Counters = parley.counters() - marks["counters"]
        tokens = max(run.tokens, 1)
        cell.update(
            broker_messages=used.broker_messages,
            broker_messages_per_token=rounded(used.broker_messages / tokens, 3),
            deltas_per_token=rounded(used.deltas_published / tokens, 3),
            generations=used.generations,
        )
    return cell


def _cell(name: str, n: int, rounds: int, run: RunResult, cpu: dict[str, float]) -> Cell:
    busiest = max(cpu, key=lambda k: -1.0 if math.isnan(cpu[k]) else cpu[k])
    # What serving costs: the relay, or the gateways, workers and the broker (not the
    # provider or the load generator, the same for both).
    left_out = {"provider", "loadgen", "rabbitmq"} if name == "direct" else {"provider", "loadgen", "relay"}
    serving = sum(v for k, v in cpu.items() if k not in left_out and not math.isnan(v))
    return {
        "config": name,
        "streams": n,
        "rounds": rounds,
        "prompts": len(run.streams),
        "peak_streams": run.peak_streams,
        "ttft_p50_ms": rounded(run.ttft(0.5)),
        "ttft_p99_ms": rounded(run.ttft(0.99)),
        "accepted_p50_ms": rounded(run.accepted(0.5)),
        "accepted_p99_ms": rounded(run.accepted(0.99)),
        "after_accepted_p50_ms": rounded(run.after_accepted(0.5)),
        "after_accepted_p99_ms": rounded(run.after_accepted(0.99)),
        "provider_ttft_p50_ms": rounded(run.server_ttft(0.5)),
        "provider_ttft_p99_ms": rounded(run.server_ttft(0.99)),
        "tokens": run.tokens,
        "tokens_per_s": rounded(run.tokens_per_s, 1),
        "slowest_stream_rate": rounded(run.slowest_rate),
        "slowest_provider_read": rounded(run.slowest_server_rate),
        "errors": run.errors,
        "error_samples": run.error_samples(),
        "open_s": rounded(run.open_s),
        "wall_s": rounded(run.wall_s),
        "cpu_percent": cpu,
        "busiest": busiest,
        "serving_cpu_ms_per_1k_tokens": rounded(serving / 100 * run.wall_s * 1e6 / max(run.tokens, 1), 1),
        "loadavg": loadavg(),
    }


def _line(cell: Cell, base: Cell | None) -> str:
    def r(key: str) -> str:
        if base is None or base is cell:
            return ""
        return f" (x{ratio(cell[key] or float('nan'), base[key] or float('nan')):.2f})"

    msgs = cell.get("broker_messages_per_token")
    return (
        f"{cell['config']:<10} N={cell['streams']:<5} TTFT p50 {cell['ttft_p50_ms']} ms{r('ttft_p50_ms')}, "
        f"p99 {cell['ttft_p99_ms']} ms{r('ttft_p99_ms')}; {cell['tokens_per_s']} tok/s{r('tokens_per_s')}; "
        f"slowest {cell['slowest_stream_rate']} tok/s; errors {cell['errors']}; "
        f"msgs/token {msgs}; RSS/idle {cell['rss_per_idle_session_kb']} KiB, "
        f"/streaming {cell['rss_per_streaming_session_kb']} KiB; peak streams {cell['peak_streams']}; "
        f"busiest {cell['busiest']} {cell['cpu_percent'][cell['busiest']]} %"
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def bench(args: argparse.Namespace) -> None:
    raise_nofile()
    started = machine()
    cells: list[Cell] = []
    baseline: dict[int, Cell] = {}
    with bench_stack(tokens=args.tokens, rate=args.rate) as stack:
        stack.gateway_env.update(
            PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER="8", PARLEY_GATEWAY_PROMPTS_PER_MINUTE="100000"
        )
        shared = {**stack.pids(), "loadgen": os.getpid()}
        broker = find_pid("beam.smp")
        if broker is not None:
            shared["rabbitmq"] = broker
        # Unmeasured warm-up of the relay.
        await run_load("warm-up", stack.relay_url, stack.issuer, 5, ramp_s=0.1)
        for n in args.streams:
            cell = await measure(
                "direct", stack.relay_url, stack, n, server_pids=[stack.relay.pid], pids=shared, args=args
            )
            baseline[n] = cell
            cells.append(cell)
            _say(_line(cell, None))
        for config in args.configs:
            workers, gateways = parse_config(config)
            concurrency = (2 * max(args.streams) + 16 + workers - 1) // workers
            parley = stack.start_parley(workers, concurrency=concurrency, gateways=gateways)
            try:
                await run_load("warm-up", parley.ws_urls, stack.issuer, 5, ramp_s=0.1)
                for n in args.streams:
                    cell = await measure(
                        f"parley-{config}",
                        parley.ws_urls,
                        stack,
                        n,
                        server_pids=[g.pid for g in parley.gateways],
                        pids={**shared, **parley.pids()},
                        args=args,
                        parley=parley,
                    )
                    cell.update(workers=workers, gateways=gateways)
                    cells.append(cell)
                    _say(_line(cell, baseline.get(n)))
            finally:
                parley.stop()
    write_result(
        args.out,
        "matrix",
        {
            "command": "python bench/stream_bench.py " + " ".join(sys.argv[1:]),
            "machine": started,
            "loadavg_end": loadavg(),
            "settings": {
                "tokens": args.tokens,
                "rate": args.rate,
                "ramp_per_stream_s": args.ramp_per_stream,
                "ramp_most_s": args.ramp_most,
                "rounds": args.rounds,
                "window_ms": 50,
            },
            "cells": cells,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["1w", "2w", "4w", "2w2g"],
        help="Parley configurations: workers, and gateways when more than one (2w2g: 2 workers, 2 gateways)",
    )
    parser.add_argument("--tokens", type=int, default=100, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens/s of each provider stream")
    parser.add_argument(
        "--ramp-per-stream", type=float, default=0.01, help="seconds of ramp per session (N x this)"
    )
    parser.add_argument("--ramp-most", type=float, default=4.0, help="the longest ramp, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="prompts per session (one fewer at 1,000)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/matrix.json"))
    started = time.monotonic()
    uvloop.run(bench(parser.parse_args()))
    _say(f"matrix done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
