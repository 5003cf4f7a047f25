"""The load generator: WebSocket sessions that speak docs/architecture.md section 7 (`hello`,
`prompt`, `delta`..., `done`) to the gateway or to the direct relay, and what
one prompt and one run measured."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
import websockets
from stats import quantile

from parley_testkit import TestIssuer

MODEL = "bench-model"
_HANDSHAKES_AT_ONCE = 100
"""Sockets opening at once: a thousand simultaneous handshakes time out on 2 cores."""


@dataclass
class StreamResult:
    ttft_ms: float
    tokens: int
    duration_s: float
    ok: bool
    error: str = ""
    server_ttft_ms: float = math.nan
    """`done.metrics.ttft_ms`: from the provider request to its first token, as
    the worker (or the relay) saw it; the rest of the TTFT is transit."""
    server_rate: float = math.nan
    """`done.metrics.tokens_per_s`: the decode rate the worker (or relay) read."""
    sent_at: float = 0.0
    """`time.monotonic()` when the prompt went out (the soak groups by it)."""
    ended_at: float = 0.0
    accepted_ms: float = math.nan
    """From the prompt to its `accepted` frame (the gateway has published it, confirmed)."""

    @property
    def rate(self) -> float:
        return self.tokens / self.duration_s if self.duration_s > 0 else 0.0


def failure(error: str) -> StreamResult:
    return StreamResult(0, 0, 0, ok=False, error=error, sent_at=time.monotonic())


@dataclass
class RunResult:
    name: str
    streams: list[StreamResult]
    wall_s: float
    open_s: float = 0.0
    """How long it took every session to get `ready`."""

    def ttft(self, q: float) -> float:
        return quantile([s.ttft_ms for s in self.streams if s.ok], q)

    def accepted(self, q: float) -> float:
        return quantile([s.accepted_ms for s in self.streams if s.ok], q)

    def after_accepted(self, q: float) -> float:
        """From `accepted` to the first text: the request's way to a worker, the provider's
        first token, and the token's way back."""
        return quantile([s.ttft_ms - s.accepted_ms for s in self.streams if s.ok], q)

    def server_ttft(self, q: float) -> float:
        return quantile([s.server_ttft_ms for s in self.streams if s.ok], q)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.streams if s.ok)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return sum(not s.ok for s in self.streams)

    @property
    def slowest_rate(self) -> float:
        rates = [s.rate for s in self.streams if s.ok]
        return min(rates) if rates else 0.0

    @property
    def slowest_server_rate(self) -> float:
        return quantile([s.server_rate for s in self.streams if s.ok], 0.0)

    @property
    def peak_streams(self) -> int:
        """The most prompts that were in flight at once."""
        edges = sorted(
            [(s.sent_at, 1) for s in self.streams if s.ok] + [(s.ended_at, -1) for s in self.streams if s.ok]
        )
        peak = running = 0
        for _, step in edges:
            running += step
            peak = max(peak, running)
        return peak

    def error_samples(self, limit: int = 3) -> list[str]:
        return sorted({s.error for s in self.streams if not s.ok})[:limit]


def prompt_frame(model: str = MODEL) -> bytes:
    return orjson.dumps(
        {
            "type": "prompt",
            "request_id": str(uuid.uuid4()),
            "conversation_id": None,
            "parent_id": None,
            "model": model,
            "messages": [{"role": "user", "content": "benchmark"}],
            "params": {},
        }
    )


async def one_prompt(ws: websockets.ClientConnection) -> StreamResult:
    """Send a prompt and read its stream to `done` (or `error`)."""
    sent_at = time.monotonic()
    sent = time.perf_counter()
    await ws.send(prompt_frame(), text=True)
    first: float | None = None
    accepted = math.nan
    async for raw in ws:
        frame = orjson.loads(raw)
        kind = frame["type"]
        if kind in {"delta", "snapshot"} and first is None:
            first = time.perf_counter()
        elif kind == "accepted":
            accepted = (time.perf_counter() - sent) * 1000
        elif kind == "done":
            end = time.perf_counter()
            metrics = frame.get("metrics") or {}
            return StreamResult(
                ((first or end) - sent) * 1000,
                int(frame["usage"]["completion_tokens"]),
                end - (first or end),
                ok=True,
                server_ttft_ms=_number(metrics.get("ttft_ms")),
                server_rate=_number(metrics.get("tokens_per_s")),
                sent_at=sent_at,
                ended_at=time.monotonic(),
                accepted_ms=accepted,
            )
        elif kind == "error":
            return StreamResult(0, 0, 0, ok=False, error=str(frame["code"]), sent_at=sent_at)
    return failure("socket closed")


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


async def hello(ws: websockets.ClientConnection, token: str) -> str:
    """Authenticate a fresh socket; its session id (raises unless `ready`)."""
    await ws.send(
        orjson.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}), text=True
    )
    ready = orjson.loads(await ws.recv())
    if ready.get("type") != "ready":
        raise RuntimeError(f"hello answered {ready}")
    return str(ready["session_id"])


@dataclass
class Opening:
    """Counts sockets that got `ready` (or failed) so that a run starts once all are open."""

    sessions: int
    ready: int = 0
    failed: int = 0
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(_HANDSHAKES_AT_ONCE))
    all_open: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self, ok: bool) -> None:
        if ok:
            self.ready += 1
        else:
            self.failed += 1
        if self.ready + self.failed >= self.sessions:
            self.all_open.set()


async def _one_session(
    ws_url: str,
    token: str,
    opening: Opening,
    start: asyncio.Event,
    delay: float,
    rounds: int,
    stop_after_s: float | None,
) -> list[StreamResult]:
    try:
        async with opening.gate:
            ws = await websockets.connect(ws_url, max_size=None, compression=None, open_timeout=60)
            await hello(ws, token)
    except Exception as exc:
        opening.settle(ok=False)
        return [failure(f"open: {type(exc).__name__}")]
    opening.settle(ok=True)
    async with ws:
        await start.wait()
        until = None if stop_after_s is None else time.monotonic() + stop_after_s
        await asyncio.sleep(delay)
        results: list[StreamResult] = []
        while len(results) < rounds or (until is not None and time.monotonic() < until):
            try:
                results.append(await one_prompt(ws))
            except websockets.ConnectionClosed as exc:
                results.append(failure(f"closed: {exc.rcvd}"))
                break
        return results


async def run_load(
    name: str,
    ws_url: str | list[str],
    issuer: TestIssuer,
    sessions: int,
    *,
    ramp_s: float,
    rounds: int = 1,
    duration_s: float | None = None,
    user: Callable[[int], str] = lambda i: f"bench-{i}",
    on_open: Callable[[], Awaitable[None]] | None = None,
) -> RunResult:
    """`sessions` sockets open (a bounded number of handshakes at once) and say
    `hello`; once all are open `on_open` runs (to measure idle sessions), then
    they start evenly over `ramp_s`, each sending `rounds` prompts one after
    another (and more until `duration_s` is over, when given), so that about
    `sessions` streams run at once. Several URLs (gateways) take the sessions in turn."""
    urls = [ws_url] if isinstance(ws_url, str) else ws_url
    opening = Opening(sessions)
    start = asyncio.Event()
    began_open = time.perf_counter()
    stop_after_s = None if duration_s is None else ramp_s + duration_s
    tasks = [
        asyncio.create_task(
            _one_session(
                urls[i % len(urls)],
                issuer.token(user(i), expires_in=7200),
                opening,
                start,
                i * ramp_s / sessions,
                rounds,
                stop_after_s,
            )
        )
        for i in range(sessions)
    ]
    await asyncio.wait_for(opening.all_open.wait(), timeout=120 + sessions / 5)
    open_s = time.perf_counter() - began_open
    if on_open is not None:
        await on_open()
    began = time.perf_counter()
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - began
    streams: list[StreamResult] = []
    for result in results:
        if isinstance(result, BaseException):
            streams.append(failure(repr(result)))
        else:
            streams.extend(result)
    return RunResult(name, streams, wall, open_s)
