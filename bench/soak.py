"""The soak: `--minutes` (default 10) at a moderate load, 50 sessions prompting
one after another through one gateway and one worker, sampled every 10 s.

Each sample reads the gateway's and the worker's RSS (/proc), the broker's
queues (`rabbitmqctl list_queues`: messages waiting in every queue but the
`audit.events` stream, which keeps every event by design; the prompts a worker
holds unacknowledged while it answers them are counted apart) and the prompts answered and
failed so far. The result names the growth: the slope of each RSS over the
second half of the run (after the warm-up), the largest queue depth seen, and
the errors.

    python bench/soak.py [--minutes 10] [--streams 50] [--out bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from benchstack import Parley, bench_stack
from procstat import find_pid, list_queues, loadavg, machine, raise_nofile, rss_kb
from results import write_result
from stats import quantile, rounded, slope
from wsload import RunResult, run_load

from parley_contracts.topology import AUDIT_EVENTS


async def _sample(parley: Parley, amqp_url: str, began: float) -> dict[str, Any]:
    queues = await asyncio.to_thread(list_queues, amqp_url)
    depths = {q.name: q.ready for q in queues if q.name != AUDIT_EVENTS.name}
    deepest = max(depths, key=lambda k: depths[k]) if depths else ""
    broker = find_pid("beam.smp")
    return {
        "t_s": round(time.monotonic() - began, 1),
        "gateway_rss_kb": rss_kb(parley.gateway.pid),
        "worker_rss_kb": rss_kb(parley.workers[0].pid),
        "broker_rss_kb": rss_kb(broker) if broker else None,
        "queues": len(queues),
        "max_queue_depth": depths.get(deepest, 0),
        "deepest_queue": deepest,
        "queued_messages": sum(depths.values()),
        "unacked_messages": sum(q.unacked for q in queues),
        "loadavg": loadavg()[0],
    }


async def _sampler(
    parley: Parley, amqp_url: str, every_s: float, samples: list[dict[str, Any]], stop: asyncio.Event
) -> None:
    began = time.monotonic()
    while not stop.is_set():
        samples.append(await _sample(parley, amqp_url, began))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
    samples.append(await _sample(parley, amqp_url, began))


def _windows(run: RunResult, began: float, every_s: float) -> list[dict[str, Any]]:
    """Per sampling window: prompts answered, errors, TTFT p50/p99."""
    rows: dict[int, list[Any]] = {}
    for s in run.streams:
        rows.setdefault(int((s.sent_at - began) // every_s), []).append(s)
    return [
        {
            "t_s": k * every_s,
            "prompts": len(streams),
            "errors": sum(not s.ok for s in streams),
            "ttft_p50_ms": rounded(quantile([s.ttft_ms for s in streams if s.ok], 0.5)),
            "ttft_p99_ms": rounded(quantile([s.ttft_ms for s in streams if s.ok], 0.99)),
        }
        for k, streams in sorted(rows.items())
    ]


def _growth(samples: list[dict[str, Any]], key: str) -> float | None:
    """KiB per minute over the second half of the samples (the first is warm-up)."""
    half = samples[len(samples) // 2 :]
    points = [(s["t_s"] / 60, s[key]) for s in half if s[key] is not None]
    return rounded(slope([p[0] for p in points], [float(p[1]) for p in points]), 1)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    with bench_stack(tokens=args.tokens, rate=args.rate) as stack:
        stack.gateway_env["PARLEY_GATEWAY_PROMPTS_PER_MINUTE"] = "100000"
        parley = stack.start_parley(1, concurrency=2 * args.streams + 16)
        try:
            samples: list[dict[str, Any]] = []
            stop = asyncio.Event()
            began = time.monotonic()
            sampler = asyncio.create_task(_sampler(parley, stack.amqp_url, args.every, samples, stop))
            run = await run_load(
                "soak",
                parley.ws_url,
                stack.issuer,
                args.streams,
                ramp_s=2.0,
                duration_s=args.minutes * 60,
                user=lambda i: f"soak-{i}",
            )
            stop.set()
            await sampler
        finally:
            parley.stop()
    return {
        "minutes": args.minutes,
        "streams": args.streams,
        "tokens": args.tokens,
        "rate": args.rate,
        "prompts": len(run.streams),
        "errors": run.errors,
        "error_samples": run.error_samples(),
        "ttft_p50_ms": rounded(run.ttft(0.5)),
        "ttft_p99_ms": rounded(run.ttft(0.99)),
        "tokens_per_s": rounded(run.tokens_per_s, 1),
        "slowest_stream_rate": rounded(run.slowest_rate),
        "gateway_rss_growth_kb_per_min": _growth(samples, "gateway_rss_kb"),
        "worker_rss_growth_kb_per_min": _growth(samples, "worker_rss_kb"),
        "gateway_rss_first_last_kb": [samples[0]["gateway_rss_kb"], samples[-1]["gateway_rss_kb"]],
        "worker_rss_first_last_kb": [samples[0]["worker_rss_kb"], samples[-1]["worker_rss_kb"]],
        "max_queue_depth": max(s["max_queue_depth"] for s in samples),
        "queue_depth_last": samples[-1]["queued_messages"],
        "samples": samples,
        "windows": _windows(run, began, args.every),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args()
    started = machine()
    result = uvloop.run(bench(args))
    summary = {k: v for k, v in result.items() if k not in {"samples", "windows"}}
    sys.stdout.write(f"{summary}\n")
    write_result(
        args.out,
        "soak",
        {
            "command": "python bench/soak.py " + " ".join(sys.argv[1:]),
            "machine": started,
            "loadavg_end": loadavg(),
            **result,
        },
    )


if __name__ == "__main__":
    main()
