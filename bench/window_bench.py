"""The workers' coalescing window under load: a fixed 50 ms window (the
baseline, as before) against the window that widens while a worker is busy,
past 64 running generations (the default before) and past 16 (the default),
`--workers` workers behind one gateway at N streams, in one run,
alternating, `--reps` times each.

    python bench/window_bench.py [--streams 200] [--workers 4] [--reps 2] [--out bench/results/window.json]

Per run: time to first text, delivered tokens/s, broker messages per token
and the CPU of each process per 1,000 tokens delivered.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import uvloop
from benchstack import bench_stack
from procstat import find_pid, machine, raise_nofile
from results import write_result
from stream_bench import measure
from wsload import run_load

VARIANTS: dict[str, dict[str, str]] = {
    "fixed 50 ms": {
        "PARLEY_INFERENCE_COALESCE_WINDOW_MS": "50",
        "PARLEY_INFERENCE_COALESCE_WINDOW_MAX_MS": "50",
    },
    "widening past 64": {"PARLEY_INFERENCE_COALESCE_BUSY_AT": "64"},
    "widening past 16 (default)": {},
}


def cpu_ms_per_1k_tokens(cell: dict[str, Any]) -> dict[str, float]:
    tokens = max(cell["tokens"], 1)
    return {
        name: round(percent / 100 * cell["wall_s"] * 1e6 / tokens, 1)
        for name, percent in cell["cpu_percent"].items()
        if name not in {"relay"}
    }


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    raise_nofile()
    runs: list[dict[str, Any]] = []
    with bench_stack(tokens=args.tokens, rate=args.rate) as stack:
        stack.gateway_env.update(
            PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER="8", PARLEY_GATEWAY_PROMPTS_PER_MINUTE="100000"
        )
        shared = {"provider": stack.provider.pid, "loadgen": os.getpid()}
        broker = find_pid("beam.smp")
        if broker is not None:
            shared["rabbitmq"] = broker
        for rep in range(args.reps):
            for name, env in VARIANTS.items():
                parley = stack.start_parley(
                    args.workers, concurrency=2 * args.streams // args.workers + 16, worker_env=env
                )
                try:
                    await run_load("warm-up", parley.ws_urls, stack.issuer, 5, ramp_s=0.1)
                    cell = await measure(
                        name,
                        parley.ws_urls,
                        stack,
                        args.streams,
                        server_pids=[parley.gateway.pid],
                        pids={**shared, **parley.pids()},
                        args=args,
                        parley=parley,
                    )
                finally:
                    parley.stop()
                cell.update(rep=rep, cpu_ms_per_1k_tokens=cpu_ms_per_1k_tokens(cell))
                runs.append(cell)
                sys.stdout.write(
                    f"{name:<27} TTFT p50 {cell['ttft_p50_ms']} ms, p99 {cell['ttft_p99_ms']} ms; "
                    f"{cell['tokens_per_s']} tok/s; msgs/token {cell['broker_messages_per_token']}; "
                    f"CPU ms per 1k tokens {cell['cpu_ms_per_1k_tokens']}\n"
                )
                sys.stdout.flush()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ramp-per-stream", type=float, default=0.01)
    parser.add_argument("--ramp-most", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/window.json"))
    args = parser.parse_args()
    started = machine()
    runs = uvloop.run(bench(args))
    command = "python bench/window_bench.py " + " ".join(sys.argv[1:])
    target = write_result(
        args.out,
        "window",
        {
            "command": command.strip(),
            "machine": started,
            "streams": args.streams,
            "workers": args.workers,
            "runs": runs,
        },
    )
    sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main()
