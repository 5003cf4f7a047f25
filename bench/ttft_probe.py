"""Where the time to first text goes at N streams: one Parley configuration,
each prompt's time split into stages by joining the client's clock with the
worker's log (all on this machine's wall clock).

    python bench/ttft_probe.py [--streams 200] [--workers 1] [--worker-env KEY=VALUE ...]
                               [--gateway-env KEY=VALUE ...]

Stages, per prompt:
- accepted: the prompt frame sent until `accepted` came back (the gateway's
  checks and the publish of `prompt.submitted` with its confirm);
- to worker: `accepted` until the worker logged `generation start` (the
  request queue and the worker's consumer);
- provider: the worker's own time to first token (`metrics.ttft_ms` of `done`:
  the provider request until its first text);
- to client: the worker's first text until the client read the first delta
  (the stream publisher, RabbitMQ, the gateway's relay and its socket).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import orjson
import uvloop
import websockets
from benchstack import bench_stack
from stats import quantile
from wsload import MODEL, hello

_START = re.compile(r"^(\S+ \S+) .*generation start message_id=(\S+)")


@dataclass
class Probe:
    sent: float
    accepted: float = float("nan")
    first: float = float("nan")
    server_ttft_s: float = float("nan")


@dataclass
class Collected:
    by_message: dict[str, Probe] = field(default_factory=dict)
    errors: int = 0


async def _prompt(ws: websockets.ClientConnection, out: Collected) -> None:
    frame: dict[str, object] = {
        "type": "prompt",
        "request_id": str(uuid4()),
        "conversation_id": None,
        "parent_id": None,
        "model": MODEL,
        "messages": [{"role": "user", "content": "benchmark"}],
        "params": {},
    }
    probe = Probe(sent=time.time())
    await ws.send(orjson.dumps(frame), text=True)
    async for raw in ws:
        message = orjson.loads(raw)
        kind = message["type"]
        if kind == "accepted":
            probe.accepted = time.time()
            out.by_message[message["message_id"]] = probe
        elif kind == "delta" and math.isnan(probe.first):
            probe.first = time.time()
        elif kind == "done":
            probe.server_ttft_s = float((message.get("metrics") or {}).get("ttft_ms", "nan")) / 1000
            return
        elif kind == "error":
            out.errors += 1
            return


async def _session(url: str, token: str, delay: float, rounds: int, out: Collected) -> None:
    async with websockets.connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        await hello(ws, token)
        await asyncio.sleep(delay)
        for _ in range(rounds):
            await _prompt(ws, out)


def _starts(log: Path) -> dict[str, float]:
    starts: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = _START.match(line)
        if match is not None:
            stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
            starts[match[2]] = stamp.timestamp()
    return starts


def _row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values if not math.isnan(v)]
    p50, p90, p99 = (quantile(ms, q) for q in (0.5, 0.9, 0.99))
    return f"{name:>12}: p50 {p50:8.1f} ms  p90 {p90:8.1f}  p99 {p99:8.1f}  (n={len(ms)})"


async def probe(args: argparse.Namespace) -> None:
    with bench_stack(tokens=args.tokens, rate=args.rate) as stack:
        extra = dict(item.split("=", 1) for item in args.worker_env)
        parley = stack.start_parley(
            args.workers,
            concurrency=2 * args.streams + 16,
            worker_env={"PARLEY_INFERENCE_LOG_LEVEL": "INFO", **extra},
            **dict(item.split("=", 1) for item in args.gateway_env),
        )
        try:
            out = Collected()
            ramp = min(args.streams * 0.01, 4.0)
            await asyncio.gather(
                *(
                    _session(
                        parley.ws_url,
                        stack.issuer.token(f"probe-{i}", expires_in=3600),
                        i * ramp / args.streams,
                        args.rounds,
                        out,
                    )
                    for i in range(args.streams)
                )
            )
        finally:
            parley.stop()
        starts: dict[str, float] = {}
        for worker in parley.workers:
            starts.update(_starts(worker.log_path))
    probes = [(starts.get(m), p) for m, p in out.by_message.items()]
    print(f"{args.streams} streams, {args.workers} worker(s), {len(probes)} prompts, {out.errors} errors")
    print(_row("total", [p.first - p.sent for _, p in probes]))
    print(_row("accepted", [p.accepted - p.sent for _, p in probes]))
    print(_row("to worker", [s - p.accepted for s, p in probes if s is not None]))
    print(_row("provider", [p.server_ttft_s for _, p in probes]))
    print(_row("to client", [p.first - (s + p.server_ttft_s) for s, p in probes if s is not None]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument(
        "--worker-env", nargs="*", default=[], metavar="KEY=VALUE", help="added to the workers' environment"
    )
    parser.add_argument(
        "--gateway-env", nargs="*", default=[], metavar="KEY=VALUE", help="added to the gateway's environment"
    )
    uvloop.run(probe(parser.parse_args()))


if __name__ == "__main__":
    main()
