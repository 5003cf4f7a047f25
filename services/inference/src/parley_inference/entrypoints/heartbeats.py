"""A worker's `worker.heartbeat`: what it serves and how many slots are free, announced every
interval to the gateways (which route by it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from parley_contracts import WorkerHeartbeat
from parley_inference.adapters.rabbit import BrokerHeartbeatPublisher

log = logging.getLogger(__name__)


class Heartbeats:
    def __init__(
        self, publisher: BrokerHeartbeatPublisher, *, now: Callable[[], WorkerHeartbeat], interval_s: float
    ) -> None:
        self._publisher = publisher
        self._now = now
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        """One heartbeat now (a failure is logged: the next one may pass)."""
        try:
            await self._publisher.publish(self._now())
        except Exception as exc:
            log.warning("heartbeat not published: %s", exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="heartbeats")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        """A beat every interval whatever a confirmed publish costs: under load a confirm can
        take seconds, and waiting for it stretched the gaps past the gateways' expiry (a live
        worker's models vanished from `/api/models` and prompts met `model_unavailable`)."""
        beats: set[asyncio.Task[None]] = set()
        try:
            while True:
                await asyncio.sleep(self._interval_s)
                beat = asyncio.create_task(self.beat(), name="heartbeat")
                beats.add(beat)
                beat.add_done_callback(beats.discard)
        finally:
            for beat in beats:
                beat.cancel()
