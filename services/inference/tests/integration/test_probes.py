"""The worker's probes on its metrics port: `/healthz` while the process runs,
`/readyz` only while it is connected and taking prompts."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
import urllib.error
import urllib.request

import pytest

from parley_testkit import cut_connections, free_port
from tests.integration.workers import StartWorker


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def _until_status(url: str, wanted: int, within_s: float) -> float:
    started = time.monotonic()
    while (status := await asyncio.to_thread(_status, url)) != wanted:
        assert time.monotonic() - started < within_s, f"{url} answered {status}, not {wanted}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_readyz_follows_the_broker_connection(start_worker: StartWorker, amqp_url: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on PATH: cannot cut the worker's connection")
    port = free_port()
    worker = await start_worker(metrics_port=port)
    base = f"http://127.0.0.1:{port}"
    assert await asyncio.to_thread(_status, f"{base}/healthz") == 200
    assert await asyncio.to_thread(_status, f"{base}/readyz") == 200
    assert await asyncio.to_thread(_status, f"{base}/metrics") == 200

    await asyncio.to_thread(cut_connections, amqp_url, "probe test")
    await _until_status(f"{base}/readyz", 503, within_s=5)
    assert await asyncio.to_thread(_status, f"{base}/healthz") == 200  # alive: no restart wanted
    await _until_status(f"{base}/readyz", 200, within_s=30)  # it reconnects by itself
    assert worker.ready()


class _SlowConfirms:
    """A heartbeat publisher whose every publish takes `delay_s`, as confirms do under load."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.started: list[float] = []

    async def publish(self, heartbeat: object) -> None:
        self.started.append(time.monotonic())
        await asyncio.sleep(self.delay_s)


async def test_slow_confirms_do_not_stretch_the_heartbeat_period(start_worker: StartWorker) -> None:
    worker = await start_worker(heartbeat_interval_s=0.2)
    slow = _SlowConfirms(delay_s=1.5)
    worker._heartbeats._publisher = slow  # type: ignore[assignment]  # the broker's publisher, slowed
    await asyncio.sleep(1.3)
    # Waiting for each confirm would have let one beat out in this time; every interval beats.
    assert len(slow.started) >= 4, slow.started
    gaps = [b - a for a, b in itertools.pairwise(slow.started)]
    assert max(gaps) < 0.2 + 0.5, gaps
