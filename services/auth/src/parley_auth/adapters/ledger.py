"""The `LedgerStore` on the database: usage, bills and quota blocks as domain types, mapped
from and to the rows of `Repository` (no row leaves this module)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from parley_auth.adapters.mapping import from_row, to_row
from parley_auth.adapters.orm import BilledMessageRow, QuotaBlockRow
from parley_auth.adapters.repository import Database, Repository, SqlStore
from parley_auth.domain.quota import Bill, DailyUsage, Price, QuotaBlock


class SqlLedger:
    """`Ledger` over one transaction's `Repository`."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    async def mark_processed(self, event_id: uuid.UUID, now: datetime) -> bool:
        return await self._repo.mark_processed(event_id, now)

    async def lock_quota(self, user_id: str) -> None:
        await self._repo.lock_quota(user_id)

    async def billed(self, message_id: uuid.UUID) -> Bill | None:
        row = await self._repo.billed(message_id)
        return None if row is None else from_row(Bill, row)

    async def bill(self, bill: Bill, *, instead_of: Bill | None) -> None:
        earlier = None if instead_of is None else await self._repo.billed(instead_of.message_id)
        await self._repo.bill(to_row(BilledMessageRow, bill), instead_of=earlier)

    async def price(self, model: str) -> Price | None:
        known = await self._repo.catalog.price(model)
        return None if known is None else Price(*known)

    async def budget_override(self, user_id: str) -> int | None:
        try:
            key = uuid.UUID(user_id)
        except ValueError:  # account ids are UUIDs
            return None
        row = await self._repo.user(key)
        return None if row is None else row.budget_tokens

    async def tokens_used(self, user_id: str, since: date) -> int:
        return await self._repo.tokens_used(user_id, since)

    async def usage(
        self, *, user_id: str | None, since: date | None, until: date | None, limit: int
    ) -> list[DailyUsage]:
        rows = await self._repo.usage(user_id=user_id, since=since, until=until, limit=limit)
        return [from_row(DailyUsage, row) for row in rows]

    async def block(self, user_id: str) -> QuotaBlock | None:
        row = await self._repo.block(user_id)
        return None if row is None else from_row(QuotaBlock, row)

    async def blocks(self) -> list[QuotaBlock]:
        return [from_row(QuotaBlock, row) for row in await self._repo.blocks()]

    async def add_block(self, block: QuotaBlock) -> None:
        await self._repo.add_block(to_row(QuotaBlockRow, block))

    async def save_block(self, block: QuotaBlock) -> None:
        row = await self._repo.block(block.user_id)  # the session's own row when it was read before
        if row is None:
            raise LookupError(f"no quota block of {block.user_id}")
        row.period_start, row.quota, row.limit, row.used = (
            block.period_start, block.quota, block.limit, block.used
        )  # fmt: skip

    async def remove_block(self, user_id: str) -> None:
        row = await self._repo.block(user_id)
        if row is not None:
            await self._repo.remove_block(row)


class SqlLedgerStore(SqlStore[SqlLedger]):
    """`LedgerStore` on a `Database`."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, SqlLedger)
