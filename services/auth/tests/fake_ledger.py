"""The usage ledger in dicts (the other fakes are in `fakes.py`): a transaction that raises
leaves it as it was; budgets of their own are those of a `FakeAccountStore`'s accounts."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from parley_auth.domain.quota import Bill, DailyUsage, Price, QuotaBlock
from tests.fakes import FakeAccountStore

_Day = tuple[str, str, date]


@dataclass
class _State:
    processed: set[uuid.UUID] = field(default_factory=set)
    usage: dict[_Day, DailyUsage] = field(default_factory=dict)
    bills: dict[uuid.UUID, Bill] = field(default_factory=dict)
    blocks: dict[str, QuotaBlock] = field(default_factory=dict)


class FakeLedgerStore:
    def __init__(self, accounts: FakeAccountStore | None = None) -> None:
        self.state = _State()
        self.catalog_prices: dict[str, Price] = {}
        self.accounts = accounts or FakeAccountStore()
        self.locked: list[str] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeLedger]:
        saved = copy.deepcopy(self.state)
        try:
            yield FakeLedger(self)
        except BaseException:
            self.state = saved
            raise

    def rows(self, user_id: str) -> list[DailyUsage]:
        return sorted((u for u in self.state.usage.values() if u.user_id == user_id), key=lambda u: u.day)


class FakeLedger:
    """`Ledger` over a `FakeLedgerStore`."""

    def __init__(self, store: FakeLedgerStore) -> None:
        self._store = store
        self._state = store.state

    async def mark_processed(self, event_id: uuid.UUID, now: datetime) -> bool:
        if event_id in self._state.processed:
            return False
        self._state.processed.add(event_id)
        return True

    async def lock_quota(self, user_id: str) -> None:
        self._store.locked.append(user_id)

    async def billed(self, message_id: uuid.UUID) -> Bill | None:
        return self._state.bills.get(message_id)

    async def bill(self, bill: Bill, *, instead_of: Bill | None) -> None:
        if instead_of is not None:
            self._add(instead_of, -1)
        self._add(bill, 1)
        self._state.bills[bill.message_id] = bill

    def _add(self, bill: Bill, sign: int) -> None:
        key = (bill.user_id, bill.model, bill.day)
        row = self._state.usage.get(key, DailyUsage(bill.user_id, bill.model, bill.day, 0, 0, 0, 0))
        row = replace(
            row,
            requests=row.requests + sign,
            prompt_tokens=row.prompt_tokens + sign * bill.prompt_tokens,
            completion_tokens=row.completion_tokens + sign * bill.completion_tokens,
            cost_nanos=row.cost_nanos + sign * bill.cost_nanos,
        )
        if row.requests > 0:
            self._state.usage[key] = row
        else:
            self._state.usage.pop(key, None)

    async def price(self, model: str) -> Price | None:
        return self._store.catalog_prices.get(model)

    async def budget_override(self, user_id: str) -> int | None:
        try:
            account = self._store.accounts.accounts.get(uuid.UUID(user_id))
        except ValueError:
            return None
        return None if account is None else account.budget_tokens

    async def tokens_used(self, user_id: str, since: date) -> int:
        return sum(
            u.prompt_tokens + u.completion_tokens
            for u in self._state.usage.values()
            if u.user_id == user_id and u.day >= since
        )

    async def usage(
        self, *, user_id: str | None, since: date | None, until: date | None, limit: int
    ) -> list[DailyUsage]:
        found = [
            u
            for u in self._state.usage.values()
            if user_id in (None, u.user_id)
            and (since is None or u.day >= since)
            and (until is None or u.day <= until)
        ]
        found.sort(key=lambda u: (-u.day.toordinal(), u.user_id, u.model))
        return found[:limit]

    async def block(self, user_id: str) -> QuotaBlock | None:
        return self._state.blocks.get(user_id)

    async def blocks(self) -> list[QuotaBlock]:
        return [self._state.blocks[u] for u in sorted(self._state.blocks)]

    async def add_block(self, block: QuotaBlock) -> None:
        assert block.user_id not in self._state.blocks
        self._state.blocks[block.user_id] = block

    async def save_block(self, block: QuotaBlock) -> None:
        assert block.user_id in self._state.blocks
        self._state.blocks[block.user_id] = block

    async def remove_block(self, user_id: str) -> None:
        self._state.blocks.pop(user_id, None)
