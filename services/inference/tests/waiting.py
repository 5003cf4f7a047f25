"""Polling for conditions that change without an event to wait on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0, every_s: float = 0.01) -> None:
    """Return once `predicate()` is true; TimeoutError after `within_s`."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - the state has no event to wait on
            await asyncio.sleep(every_s)
