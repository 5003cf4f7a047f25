"""Riding out a database outage in a broker consumer: the message stays held (unacked)
while its work is retried with backoff, until the database answers again.

Handing the message back instead (nack with requeue) had RabbitMQ redeliver it at once:
during a PostgreSQL restart that was a few hundred failed attempts a second, each an
ERROR traceback. Every database error counts as an outage (as in history): holding a
completion until the database is fixed beats losing it from the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


async def retry_while_unavailable(
    work: Callable[[], Awaitable[T]],
    *,
    what: str,
    initial_s: float,
    max_s: float,
    on_retry: Callable[[], None] = lambda: None,
) -> T:
    """`work()`, again after `initial_s`, doubling up to `max_s`, for as long as it fails
    with a database error; one WARNING line per retry. Other errors propagate."""
    delay = initial_s
    while True:
        try:
            return await work()
        except DATABASE_ERRORS as exc:
            on_retry()
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("database unavailable (%s); holding %s, retry in %.1f s", reason, what, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_s)
