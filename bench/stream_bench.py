"""`make bench`: N concurrent chat streams through Parley's broker path, and the
same load through a direct relay (no broker), in one run, side by side.

Everything runs on this machine: a provider emitting tokens at a fixed rate
(`parley_testkit.provider`), the direct relay (`bench/direct_relay.py`), a
gateway and `--workers` inference workers on a fresh RabbitMQ vhost. The load
generator opens N WebSocket sessions, starts them evenly over a ramp, and each
sends a few prompts one after another, so that about N streams run at once; it
records every prompt's time to first text and the delivered tokens, and from
each `done` frame the time to first token and the read rate that the worker
(or the relay) saw at the provider ("provider TTFT", "slowest provider read"):
the rest of the time to first text is transit through Parley.

    python bench/stream_bench.py [--streams 50 200] [--tokens 100] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvloop
import websockets

from parley_testkit import (
    FakeProvider,
    ServiceProcess,
    TestIssuer,
    amqp_url_from_env,
    free_port,
    isolated_vhost,
)

ROOT = Path(__file__).resolve().parents[1]
ISSUER, AUDIENCE, MODEL = "parley-bench", "parley", "bench-model"


@dataclass
class StreamResult:
    ttft_ms: float
    tokens: int
    duration_s: float
    ok: bool
    error: str = ""
    server_ttft_ms: float = math.nan
    """`done.metrics.ttft_ms`: from the provider request to its first token,
    as the worker (or the relay) saw it; the rest of the TTFT is transit."""
    server_rate: float = math.nan
    """`done.metrics.tokens_per_s`: the decode rate the worker (or relay) read."""

    @property
    def rate(self) -> float:
        return self.tokens / self.duration_s if self.duration_s > 0 else 0.0


def _quantile(values: list[float], q: float) -> float:
    values = sorted(v for v in values if not math.isnan(v))
    if not values:
        return math.nan
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


@dataclass
class RunResult:
    name: str
    streams: list[StreamResult]
    wall_s: float

    def ttft(self, q: float) -> float:
        return _quantile([s.ttft_ms for s in self.streams if s.ok], q)

    def server_ttft(self, q: float) -> float:
        return _quantile([s.server_ttft_ms for s in self.streams if s.ok], q)

    @property
    def slowest_server_rate(self) -> float:
        return _quantile([s.server_rate for s in self.streams if s.ok], 0.0)

    @property
    def tokens_per_s(self) -> float:
        return sum(s.tokens for s in self.streams if s.ok) / self.wall_s

    @property
    def errors(self) -> int:
        return sum(not s.ok for s in self.streams)

    @property
    def slowest_rate(self) -> float:
        rates = [s.rate for s in self.streams if s.ok]
        return min(rates) if rates else 0.0


def _prompt_frame() -> bytes:
    return orjson.dumps(
        {
            "type": "prompt",
            "request_id": str(uuid.uuid4()),
            "conversation_id": None,
            "parent_id": None,
            "model": MODEL,
            "messages": [{"role": "user", "content": "benchmark"}],
            "params": {},
        }
    )


async def _one_prompt(ws: websockets.ClientConnection) -> StreamResult:
    sent = time.perf_counter()
    await ws.send(_prompt_frame(), text=True)
    first: float | None = None
    async for raw in ws:
        frame = orjson.loads(raw)
        kind = frame["type"]
        if kind in {"delta", "snapshot"} and first is None:
            first = time.perf_counter()
        elif kind == "done":
            end = time.perf_counter()
            tokens = int(frame["usage"]["completion_tokens"])
            metrics = frame.get("metrics") or {}
            return StreamResult(
                ((first or end) - sent) * 1000,
                tokens,
                end - (first or end),
                ok=True,
                server_ttft_ms=_number(metrics.get("ttft_ms")),
                server_rate=_number(metrics.get("tokens_per_s")),
            )
        elif kind == "error":
            return StreamResult(0, 0, 0, ok=False, error=f"{frame['code']}: {frame['message']}")
    return StreamResult(0, 0, 0, ok=False, error="socket closed")


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


async def _one_session(
    ws_url: str, token: str, start: asyncio.Event, delay: float, rounds: int
) -> list[StreamResult]:
    async with websockets.connect(ws_url, max_size=None, compression=None, open_timeout=30) as ws:
        hello = {"type": "hello", "token": token, "session_id": None, "last_seq": None}
        await ws.send(orjson.dumps(hello), text=True)
        ready = orjson.loads(await ws.recv())
        if ready.get("type") != "ready":
            return [StreamResult(0, 0, 0, ok=False, error=str(ready))]
        await start.wait()
        await asyncio.sleep(delay)
        return [await _one_prompt(ws) for _ in range(rounds)]


async def run_load(
    name: str, ws_url: str, issuer: TestIssuer, sessions: int, *, ramp_s: float, rounds: int
) -> RunResult:
    """`sessions` sockets, started evenly over `ramp_s`, each sending `rounds`
    prompts one after another, so that about `sessions` streams run at once."""
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(
            _one_session(
                ws_url, issuer.token(f"bench-{i}", expires_in=600), start, i * ramp_s / sessions, rounds
            )
        )
        for i in range(sessions)
    ]
    await asyncio.sleep(1.0 + sessions / 100)  # let every socket say hello first
    began = time.perf_counter()
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - began
    streams: list[StreamResult] = []
    for result in results:
        if isinstance(result, BaseException):
            streams.append(StreamResult(0, 0, 0, ok=False, error=repr(result)))
        else:
            streams.extend(result)
    return RunResult(name, streams, wall)


def _wait_models(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/models", timeout=2) as response:
            if any(m["name"] == MODEL for m in json.load(response)["models"]):
                return
        time.sleep(0.2)
    raise RuntimeError("the gateway never listed the bench model")


def _report(n: int, direct: RunResult, parley: RunResult, rate: float) -> str:
    def row(label: str, d: float, p: float, unit: str) -> str:
        ratio = p / d if d else float("nan")
        return f"  {label:<22} direct {d:9.1f} {unit:<5} parley {p:9.1f} {unit:<5} ratio {ratio:5.2f}"

    lines = [
        f"N = {n} streams at {rate:g} tokens/s",
        row("TTFT p50", direct.ttft(0.5), parley.ttft(0.5), "ms"),
        row("TTFT p99", direct.ttft(0.99), parley.ttft(0.99), "ms"),
        row("delivered tokens/s", direct.tokens_per_s, parley.tokens_per_s, "tok/s"),
        row("slowest stream rate", direct.slowest_rate, parley.slowest_rate, "tok/s"),
        row("provider TTFT p50", direct.server_ttft(0.5), parley.server_ttft(0.5), "ms"),
        row("provider TTFT p99", direct.server_ttft(0.99), parley.server_ttft(0.99), "ms"),
        row("slowest provider read", direct.slowest_server_rate, parley.slowest_server_rate, "tok/s"),
        f"  added TTFT: p50 {parley.ttft(0.5) - direct.ttft(0.5):+.1f} ms, "
        f"p99 {parley.ttft(0.99) - direct.ttft(0.99):+.1f} ms; "
        f"errors: direct {direct.errors}, parley {parley.errors}",
    ]
    errors = [s.error for s in parley.streams + direct.streams if not s.ok][:3]
    lines += [f"  error: {e}" for e in errors]
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> None:
    issuer = TestIssuer(issuer=ISSUER, audience=AUDIENCE)
    provider_port, relay_port, gateway_port = free_port(), free_port(), free_port()
    provider_url = f"http://127.0.0.1:{provider_port}/v1"
    py = sys.executable
    with (
        isolated_vhost(amqp_url_from_env(), prefix="parley-bench") as amqp_url,
        FakeProvider(issuer=issuer) as jwks,
    ):
        models = Path(os.environ.get("TMPDIR", "/tmp")) / f"parley-bench-models-{os.getpid()}.yaml"
        models.write_text(
            f"models:\n  - name: {MODEL}\n    base_url: {provider_url}\n    model: test-model\n"
            "    max_tokens: 4096\n    context_window: 8192\n"
        )
        env = {
            "AMQP_URL": amqp_url,
            "PORT": str(gateway_port),
            "PARLEY_MODELS_FILE": str(models),
            "PARLEY_GATEWAY_JWKS_URL": jwks.jwks_url,
            "PARLEY_GATEWAY_JWT_ISSUER": ISSUER,
            "PARLEY_GATEWAY_JWT_AUDIENCE": AUDIENCE,
            "PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER": "8",
            "PARLEY_INFERENCE_CONCURRENCY": str(
                args.concurrency or (2 * max(args.streams) + 16 + args.workers - 1) // args.workers
            ),
            "PARLEY_INFERENCE_COALESCE_WINDOW_MS": str(args.window_ms),
            "PARLEY_INFERENCE_LOG_LEVEL": "WARNING",
            "PARLEY_GATEWAY_LOG_LEVEL": "WARNING",
        }
        provider_args = ["--tokens", str(args.tokens), "--rate", str(args.rate)]
        relay_args = ["--provider", provider_url]
        procs = [
            ServiceProcess(
                [py, "-m", "parley_testkit.provider", "--port", str(provider_port), *provider_args],
                {},
                name="bench-provider",
            ),
            ServiceProcess(
                [py, str(ROOT / "bench" / "direct_relay.py"), "--port", str(relay_port), *relay_args],
                {},
                name="bench-relay",
            ),
            ServiceProcess([py, "-m", "parley_gateway"], env, name="bench-gateway"),
            *(
                ServiceProcess([py, "-m", "parley_inference"], env, name=f"bench-worker-{k}")
                for k in range(args.workers)
            ),
        ]
        try:
            for proc in procs:
                proc.start()
            procs[0].wait_log("http://", timeout=20)
            procs[1].wait_log("relay ready", timeout=20)
            procs[2].wait_ready(f"http://127.0.0.1:{gateway_port}/readyz", timeout=30)
            _wait_models(f"http://127.0.0.1:{gateway_port}")
            # A short warm-up of both paths, not measured.
            relay_url, gateway_url = f"ws://127.0.0.1:{relay_port}", f"ws://127.0.0.1:{gateway_port}/ws"
            await run_load("warm-up", relay_url, issuer, 5, ramp_s=0.1, rounds=1)
            await run_load("warm-up", gateway_url, issuer, 5, ramp_s=0.1, rounds=1)
            for n in args.streams:
                load = {"ramp_s": args.ramp, "rounds": args.rounds}
                direct = await run_load("direct", relay_url, issuer, n, **load)
                parley = await run_load("parley", gateway_url, issuer, n, **load)
                sys.stdout.write(_report(n, direct, parley, args.rate) + "\n")
                sys.stdout.flush()
        finally:
            for proc in reversed(procs):
                proc.terminate(timeout=10)
            models.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--tokens", type=int, default=100, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens/s of each provider stream")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the sessions start")
    parser.add_argument("--rounds", type=int, default=3, help="prompts each session sends, one after another")
    parser.add_argument("--window-ms", type=float, default=50.0, help="the workers' coalescing window")
    parser.add_argument(
        "--workers", type=int, default=1, help="inference worker processes (they share the cores)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="generations at once per worker (default (2 x streams + 16) / workers: a request holds "
        "its slot until its outcome event is confirmed, after the client has `done` and may prompt again)",
    )
    uvloop.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
