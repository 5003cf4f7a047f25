"""What counts as the database being away, for `parley_platform.outage.retry_while_unavailable`
in the broker consumers. Every database error counts (as in history): holding a completion
until the database is fixed beats losing it from the ledger.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
