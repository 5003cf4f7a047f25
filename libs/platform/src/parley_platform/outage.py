"""Riding out a store's outage in a broker consumer: the message stays held (unacked) while its
work is retried with backoff, until the store answers again.

Handing the message back instead (nack with requeue) has RabbitMQ redeliver it at once: during a
PostgreSQL restart that was a few hundred failed attempts a second, each an ERROR traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Stopped(Exception):
    """The consumer stopped while the store was away: the caller hands its messages back."""


async def retry_while_unavailable(
    work: Callable[[], Awaitable[T]],
    *,
    unavailable: tuple[type[BaseException], ...],
    what: str,
    initial_s: float,
    max_s: float,
    on_retry: Callable[[], None] = lambda: None,
    stopping: asyncio.Event | None = None,
) -> T:
    """`work()`, again after `initial_s`, doubling up to `max_s`, for as long as it fails with
    one of `unavailable`; one WARNING line per retry. Other errors propagate. Raises `Stopped`
    once `stopping` is set (a wait is cut short by it)."""
    delay = initial_s
    while True:
        try:
            return await work()
        except unavailable as exc:
            if stopping is not None and stopping.is_set():
                raise Stopped(what) from exc
            on_retry()
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("store unavailable (%s); holding %s, retry in %.1f s", reason, what, delay)
        if stopping is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=delay)
        delay = min(delay * 2, max_s)
