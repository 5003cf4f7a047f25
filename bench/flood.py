"""A flood of prompts from one user against 20 other users' latency, in one run.

One gateway and one worker with the gateway's per-user limits (4 generations
at once, `--per-minute` prompts a minute per user). Twenty users each stream
prompts one after another for three phases of `--phase-s` seconds: quiet,
flooded, quiet again. During the flood one user holds `--flood-sockets`
sockets, each sending a prompt every `--flood-interval-ms` and reading what
comes back (from a process of its own, so that the load generator measuring
the others does not carry the flood in its event loop too); the gateway
refuses what is over that user's limits. In the quiet
phases one more user (a fresh one each time) streams on 4 sockets, using the
same allowance politely: what the limits admit of the flood is load any user
may add, so the comparison isolates what they refuse. The others' time to
first text in the flooded phase is compared with the two quiet phases: unchanged
unless its p50 (p99) is above both of theirs and above the band that their
prompts, drawn again as many as the flooded phase had, give 19 times in 20.

    python bench/flood.py [--phase-s 20] [--flood-sockets 10] [--flood-interval-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop
import websockets
from benchstack import bench_stack
from procstat import CpuMeter, loadavg, machine, raise_nofile
from results import write_result
from stats import bootstrap_band, quantile, rounded
from wsload import RunResult, hello, prompt_frame, run_load

from parley_testkit import TestIssuer

VICTIMS = 20
GENERATIONS_PER_USER = 4


async def _flood_socket(
    url: str, token: str, interval_s: float, stop: asyncio.Event, seen: Counter[str]
) -> None:
    async with websockets.connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        await hello(ws, token)

        async def read() -> None:
            async for raw in ws:
                frame = orjson.loads(raw)
                kind = frame["type"]
                seen[f"error:{frame.get('code')}" if kind == "error" else kind] += 1

        reader = asyncio.create_task(read())
        try:
            while not stop.is_set():
                await ws.send(prompt_frame(), text=True)
                seen["sent"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _flood(url: str, token: str, args: argparse.Namespace) -> Counter[str]:
    """The flooding sockets, until SIGTERM (run in a process of its own: `--flood-only`)."""
    seen: Counter[str] = Counter()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.gather(
        *(
            _flood_socket(url, token, args.flood_interval_ms / 1000, stop, seen)
            for _ in range(args.flood_sockets)
        ),
        return_exceptions=True,
    )
    return seen


class Flooder:
    """The flood in a child process, so that the load generator measuring the others does
    not also carry the flood's sockets in its own event loop."""

    def __init__(self, url: str, issuer: TestIssuer, args: argparse.Namespace) -> None:
        self._argv = [
            sys.executable,
            __file__,
            "--flood-only",
            url,
            issuer.token("flooder", expires_in=3600),
            "--flood-sockets",
            str(args.flood_sockets),
            "--flood-interval-ms",
            str(args.flood_interval_ms),
        ]
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self._argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )

    async def stop(self) -> dict[str, int]:
        assert self._proc is not None
        self._proc.terminate()
        out, err = await self._proc.communicate()
        if self._proc.returncode != 0:
            raise RuntimeError(
                f"the flooding process failed ({self._proc.returncode}): {err.decode()[-2000:]}"
            )
        return dict(orjson.loads(out))


def _phase(name: str, run: RunResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "phase": name,
        "prompts": len(run.streams),
        "errors": run.errors,
        "error_samples": run.error_samples(),
        "ttft_p50_ms": rounded(run.ttft(0.5)),
        "ttft_p99_ms": rounded(run.ttft(0.99)),
        "slowest_stream_rate": rounded(run.slowest_rate),
        **(extra or {}),
    }


def _ttfts(run: RunResult) -> list[float]:
    return [s.ttft_ms for s in run.streams if s.ok]


def verdict(quiet: list[list[float]], flooded: list[float], q: float) -> dict[str, Any]:
    """Unchanged unless the flooded phase's `q` quantile is above both quiet phases' and above
    the band that their prompts give at as many prompts, 19 times in 20 (a bootstrap of them,
    pooled). Two kinds of noise: the p99 of a few hundred prompts rests on their slowest two
    or three (the band), and the machine drifts from one phase to the next (the two quiet
    figures differ by more than the band). A lower figure is noise too: a flood cannot make
    the others faster."""
    pooled = [v for phase in quiet for v in phase]
    low, high = bootstrap_band(pooled, q, len(flooded))
    figure = quantile(flooded, q)
    figures = [quantile(phase, q) for phase in quiet]
    return {
        "quiet": [rounded(v) for v in figures],
        "flooded": rounded(figure),
        "added_ms": rounded(figure - quantile(pooled, q)),
        "band_ms": [rounded(low), rounded(high)],
        "prompts": len(flooded),
        "unchanged": figure <= max(high, *figures),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    with bench_stack(tokens=args.tokens, rate=args.rate) as stack:
        stack.gateway_env["PARLEY_GATEWAY_PROMPTS_PER_MINUTE"] = str(args.per_minute)
        stack.gateway_env["PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER"] = str(GENERATIONS_PER_USER)
        parley = stack.start_parley(1, concurrency=64)
        phases: list[dict[str, Any]] = []
        samples: list[list[float]] = []
        """The others' time to first text, prompt by prompt, of each phase."""
        try:
            await run_load("warm-up", parley.ws_url, stack.issuer, 5, ramp_s=0.1, user=lambda i: f"warm-{i}")

            async def load(name: str, sessions: int, user: Callable[[int], str]) -> RunResult:
                return await run_load(
                    name,
                    parley.ws_url,
                    stack.issuer,
                    sessions,
                    ramp_s=1.0,
                    duration_s=args.phase_s,
                    user=user,
                )

            async def victims(phase: str) -> RunResult:
                return await load(phase, VICTIMS, lambda i: f"victim-{i}")

            async def quiet_phase(phase: str) -> dict[str, Any]:
                polite_user = f"polite-{len(phases)}"
                polite = asyncio.create_task(
                    load(f"{phase}: one user at its limit", GENERATIONS_PER_USER, lambda _: polite_user)
                )
                meter.start()
                run = await victims(phase)
                samples.append(_ttfts(run))
                cpu = meter.stop()
                at_limit = await polite
                allowance = {"prompts": len(at_limit.streams), "errors": at_limit.errors}
                return _phase(phase, run, {"cpu_percent": cpu, "polite_user": allowance})

            meter = CpuMeter(parley.pids())
            phases.append(await quiet_phase("quiet"))
            flooder = Flooder(parley.ws_url, stack.issuer, args)
            meter.start()
            await flooder.start()
            flooded = await victims("flooded")
            samples.append(_ttfts(flooded))
            seen = await flooder.stop()
            phases.append(_phase("flooded", flooded, {"cpu_percent": meter.stop(), "flood": dict(seen)}))
            phases.append(await quiet_phase("quiet again"))
        finally:
            parley.stop()
    quiet = [samples[0], samples[2]]
    return {
        "victims": VICTIMS,
        "phase_s": args.phase_s,
        "per_minute": args.per_minute,
        "flood_sockets": args.flood_sockets,
        "flood_interval_ms": args.flood_interval_ms,
        "phases": phases,
        "p50": verdict(quiet, samples[1], 0.5),
        "p99": verdict(quiet, samples[1], 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phase-s", type=float, default=20.0)
    parser.add_argument("--flood-sockets", type=int, default=10)
    parser.add_argument("--flood-interval-ms", type=float, default=100.0)
    parser.add_argument(
        "--per-minute", type=int, default=60, help="the gateway's prompts per minute per user"
    )
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/flood.json"))
    parser.add_argument(
        "--flood-only", nargs=2, metavar=("URL", "TOKEN"), help="(internal) be the flooding process"
    )
    args = parser.parse_args()
    if args.flood_only:
        url, token = args.flood_only
        seen = uvloop.run(_flood(url, token, args))
        sys.stdout.buffer.write(orjson.dumps(seen))
        return
    started = machine()
    began = time.monotonic()
    result = uvloop.run(bench(args))
    for phase in result["phases"]:
        sys.stdout.write(f"{phase}\n")
    sys.stdout.write(f"p50 {result['p50']}\np99 {result['p99']}\n({time.monotonic() - began:.0f} s)\n")
    write_result(
        args.out,
        "flood",
        {
            "command": "python bench/flood.py " + " ".join(sys.argv[1:]),
            "machine": started,
            "loadavg_end": loadavg(),
            **result,
        },
    )


if __name__ == "__main__":
    main()
