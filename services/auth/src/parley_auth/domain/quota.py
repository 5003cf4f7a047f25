"""Usage and its cost, the bill of each message, and token budgets per period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

Period = Literal["day", "month"]

NANOS = 1_000_000_000
"""Costs are counted in nano-units (billionths of the prices' currency): exact integer sums."""


@dataclass(frozen=True)
class Price:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1_000_000

    def cost_nanos(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The cost in billionths of the price's currency, rounded once per completion."""
        return round((prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) * 1_000)


def period_start(moment: datetime | date, period: Period) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day if period == "day" else day.replace(day=1)


def quota_name(period: Period) -> str:
    return f"tokens_per_{period}"


@dataclass(frozen=True)
class Budget:
    """`limit` tokens per period; 0 means unlimited."""

    limit: int

    def exceeded(self, used: int) -> bool:
        return self.limit > 0 and used >= self.limit


def effective_budget(override: int | None, default: int) -> Budget:
    return Budget(default if override is None else override)


@dataclass(frozen=True)
class QuotaPolicy:
    period: Period = "day"
    default_budget_tokens: int = 0
    """For accounts without a budget of their own; 0 = unlimited."""


@dataclass(frozen=True)
class DailyUsage:
    """One user's usage of one model on one day."""

    user_id: str
    model: str
    day: date
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_nanos: int

    @property
    def cost(self) -> float:
        return self.cost_nanos / NANOS


def completion_order(occurred_at: datetime, event_id: uuid.UUID) -> tuple[datetime, uuid.UUID]:
    """Of two completions of one message the first by this key is billed."""
    at = occurred_at if occurred_at.tzinfo is not None else occurred_at.replace(tzinfo=UTC)
    return at, event_id


@dataclass(frozen=True)
class Bill:
    """The one completion a message is billed for, and what it added to the usage (so that
    another can take its place exactly)."""

    message_id: uuid.UUID
    event_id: uuid.UUID
    occurred_at: datetime
    user_id: str
    model: str
    day: date
    prompt_tokens: int
    completion_tokens: int
    cost_nanos: int

    @property
    def order(self) -> tuple[datetime, uuid.UUID]:
        return completion_order(self.occurred_at, self.event_id)


@dataclass(frozen=True)
class QuotaBlock:
    """A user over budget in the period starting `period_start`; `used`: their tokens in that
    period so far (kept current, whichever completion crossed the budget)."""

    user_id: str
    period_start: date
    quota: str
    limit: int
    used: int
