"""Usage cost and token budgets per period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

Period = Literal["day", "month"]


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
