"""5,000 idle WebSocket sessions on one gateway process (and, as the baseline,
on the direct relay): what each session costs the gateway's resident memory
and RabbitMQ (its `session.<id>` queue), and how long opening them takes.

Each session opens a socket and says `hello` (at most 100 handshakes at once);
once all are `ready`, a ping goes out on a sample of them to show the gateway
still answers, then the memory is read: the gateway's RSS from /proc, the
broker's per-queue memory from `rabbitmqctl list_queues`.

    python bench/idle_sessions.py [--sessions 5000] [--out bench/results/idle_sessions.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
import websockets
from benchstack import bench_stack
from procstat import find_pid, list_queues, loadavg, machine, raise_nofile, rss_kb
from results import write_result
from stats import quantile, rounded
from wsload import hello

from parley_testkit import TestIssuer

_HANDSHAKES_AT_ONCE = 100
_PING_SAMPLE = 200


async def _open(url: str, issuer: TestIssuer, n: int) -> tuple[list[websockets.ClientConnection], int]:
    gate = asyncio.Semaphore(_HANDSHAKES_AT_ONCE)

    async def one(i: int) -> websockets.ClientConnection | None:
        async with gate:
            try:
                ws = await websockets.connect(url, max_size=None, compression=None, open_timeout=120)
                await hello(ws, issuer.token(f"idle-{i}", expires_in=7200))
            except Exception:
                return None
            return ws

    opened = await asyncio.gather(*(one(i) for i in range(n)))
    sockets = [ws for ws in opened if ws is not None]
    return sockets, n - len(sockets)


async def _ping_ms(sockets: list[websockets.ClientConnection]) -> list[float]:
    """Round trips of an application `ping` frame on a sample of the sockets."""

    async def one(ws: websockets.ClientConnection) -> float:
        sent = time.perf_counter()
        await ws.send(orjson.dumps({"type": "ping"}), text=True)
        while orjson.loads(await asyncio.wait_for(ws.recv(), 30)).get("type") != "pong":
            pass
        return (time.perf_counter() - sent) * 1000

    step = max(1, len(sockets) // _PING_SAMPLE)
    return list(await asyncio.gather(*(one(ws) for ws in sockets[::step])))


async def _close(sockets: list[websockets.ClientConnection]) -> None:
    async def one(ws: websockets.ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()

    for start in range(0, len(sockets), 500):
        await asyncio.gather(*(one(ws) for ws in sockets[start : start + 500]))


async def _measure(
    name: str, url: str, pid: int, issuer: TestIssuer, n: int, amqp_url: str | None
) -> dict[str, Any]:
    queues_before = list_queues(amqp_url) if amqp_url else []
    broker = find_pid("beam.smp")
    broker_before = rss_kb(broker) if broker else 0
    rss_before = rss_kb(pid)
    began = time.perf_counter()
    sockets, failed = await _open(url, issuer, n)
    open_s = time.perf_counter() - began
    pings = await _ping_ms(sockets) if name == "gateway" else []
    await asyncio.sleep(1.0)  # let the server settle any buffered writes before reading RSS
    rss_after = rss_kb(pid)
    result: dict[str, Any] = {
        "server": name,
        "sessions": len(sockets),
        "failed": failed,
        "open_s": rounded(open_s),
        "sessions_per_s": rounded(len(sockets) / open_s, 1),
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "rss_per_session_kb": rounded((rss_after - rss_before) / max(len(sockets), 1)),
        "ping_p50_ms": rounded(quantile(pings, 0.5)),
        "ping_p99_ms": rounded(quantile(pings, 0.99)),
    }
    if amqp_url:
        before = {q.name for q in queues_before}
        session_queues = [
            q for q in list_queues(amqp_url) if q.name.startswith("session.") and q.name not in before
        ]
        memory = sum(q.memory for q in session_queues)
        broker_after = rss_kb(broker) if broker else 0
        result.update(
            session_queues=len(session_queues),
            queue_memory_bytes_per_session=rounded(memory / max(len(session_queues), 1), 0),
            broker_rss_delta_kb=broker_after - broker_before,
            broker_rss_per_session_kb=rounded((broker_after - broker_before) / max(len(sockets), 1)),
        )
    await _close(sockets)
    return result


async def bench(args: argparse.Namespace) -> None:
    raise_nofile()
    started = machine()
    with bench_stack(tokens=10, rate=50) as stack:
        parley = stack.start_parley(0, concurrency=1)
        try:
            gateway = await _measure(
                "gateway", parley.ws_url, parley.gateway.pid, stack.issuer, args.sessions, stack.amqp_url
            )
        finally:
            parley.stop()
        relay = await _measure("direct", stack.relay_url, stack.relay.pid, stack.issuer, args.sessions, None)
    for row in (relay, gateway):
        sys.stdout.write(f"{row}\n")
    write_result(
        args.out,
        "idle_sessions",
        {
            "command": "python bench/idle_sessions.py " + " ".join(sys.argv[1:]),
            "machine": started,
            "loadavg_end": loadavg(),
            "gateway": gateway,
            "direct": relay,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/idle_sessions.json"))
    uvloop.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
