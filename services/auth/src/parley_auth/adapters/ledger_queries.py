"""The usage ledger's and the quota blocks' queries, part of `Repository`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley_auth.adapters.orm import BilledMessageRow, ProcessedEventRow, QuotaBlockRow, UsageRow


class LedgerQueries:
    session: AsyncSession

    def _insert(self, table: Any) -> Any:
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)

    async def mark_processed(self, event_id: uuid.UUID, now: datetime) -> bool:
        """True the first time an event is seen; False for a redelivery."""
        statement = (
            self._insert(ProcessedEventRow)
            .values(event_id=event_id, processed_at=now)
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0))

    async def add_usage(
        self,
        *,
        user_id: str,
        model: str,
        day: date,
        prompt_tokens: int,
        completion_tokens: int,
        cost_nanos: int,
    ) -> None:
        statement = self._insert(UsageRow).values(
            user_id=user_id, model=model, day=day, requests=1,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_nanos=cost_nanos,
        )  # fmt: skip
        excluded = statement.excluded
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "model", "day"],
                set_={
                    "requests": UsageRow.requests + 1,
                    "prompt_tokens": UsageRow.prompt_tokens + excluded.prompt_tokens,
                    "completion_tokens": UsageRow.completion_tokens + excluded.completion_tokens,
                    "cost_nanos": UsageRow.cost_nanos + excluded.cost_nanos,
                },
            )
        )

    async def billed(self, message_id: uuid.UUID) -> BilledMessageRow | None:
        return await self.session.get(BilledMessageRow, message_id)

    async def bill(self, row: BilledMessageRow, *, instead_of: BilledMessageRow | None = None) -> None:
        """Count `row`'s completion in `usage` as its message's bill, taking the place of the
        earlier bill `instead_of` (its usage taken back; a row it leaves at no requests goes)."""
        if instead_of is not None:
            key = (
                UsageRow.user_id == instead_of.user_id,
                UsageRow.model == instead_of.model,
                UsageRow.day == instead_of.day,
            )
            await self.session.execute(
                update(UsageRow)
                .where(*key)
                .values(
                    requests=UsageRow.requests - 1,
                    prompt_tokens=UsageRow.prompt_tokens - instead_of.prompt_tokens,
                    completion_tokens=UsageRow.completion_tokens - instead_of.completion_tokens,
                    cost_nanos=UsageRow.cost_nanos - instead_of.cost_nanos,
                )
            )
            await self.session.execute(delete(UsageRow).where(*key, UsageRow.requests <= 0))
            await self.session.delete(instead_of)
            await self.session.flush()
        await self.add_usage(
            user_id=row.user_id,
            model=row.model,
            day=row.day,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cost_nanos=row.cost_nanos,
        )
        self.session.add(row)
        await self.session.flush()

    async def tokens_used(self, user_id: str, since: date) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens), 0)).where(
                UsageRow.user_id == user_id, UsageRow.day >= since
            )
        )
        return int(total or 0)

    async def usage(
        self, *, user_id: str | None, since: date | None, until: date | None, limit: int
    ) -> Sequence[UsageRow]:
        statement = select(UsageRow)
        if user_id is not None:
            statement = statement.where(UsageRow.user_id == user_id)
        if since is not None:
            statement = statement.where(UsageRow.day >= since)
        if until is not None:
            statement = statement.where(UsageRow.day <= until)
        rows = await self.session.scalars(
            statement.order_by(UsageRow.day.desc(), UsageRow.user_id, UsageRow.model).limit(limit)
        )
        return rows.all()

    # quota blocks
    async def lock_quota(self, user_id: str) -> None:
        """Until the transaction ends, this user's quota decisions wait for each other (replicas
        consume `auth.usage` side by side): the later one then sees the earlier's usage, so no
        crossing of the budget is missed. PostgreSQL: an advisory lock; SQLite has one writer."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(user_id, 0))))

    async def block(self, user_id: str) -> QuotaBlockRow | None:
        return await self.session.get(QuotaBlockRow, user_id)

    async def blocks(self) -> Sequence[QuotaBlockRow]:
        return (await self.session.scalars(select(QuotaBlockRow).order_by(QuotaBlockRow.user_id))).all()

    async def add_block(self, row: QuotaBlockRow) -> None:
        self.session.add(row)
        await self.session.flush()

    async def remove_block(self, row: QuotaBlockRow) -> None:
        await self.session.delete(row)
        await self.session.flush()
