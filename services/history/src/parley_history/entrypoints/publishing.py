"""Routes that publish: a broker failure is a 503, not a 500."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from parley_history.domain.errors import HistoryError, StoreUnavailable

T = TypeVar("T")


async def publishing(work: Awaitable[T]) -> T:
    """Await a use case that publishes; a broker failure becomes `StoreUnavailable` (503)."""
    try:
        return await work
    except HistoryError:
        raise
    except Exception as exc:
        raise StoreUnavailable(f"the event could not be published: {type(exc).__name__}: {exc}") from exc
