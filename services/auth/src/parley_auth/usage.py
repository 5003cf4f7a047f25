"""The usage and quota use cases (`services/usage.py`) wired from `Auth`: what the
`auth.usage` consumer, the routes and the periodic sweep call."""

from __future__ import annotations

from datetime import date

from parley_auth.bootstrap import Auth
from parley_auth.domain.quota import DailyUsage
from parley_auth.services import usage as use_cases
from parley_contracts import CompletionFinished


async def record_completion(event: CompletionFinished, *, auth: Auth) -> bool:
    """Account one finished completion; False when it changes nothing (see `services.usage`)."""
    return await use_cases.record_completion(
        event, ledger=auth.ledger, publisher=auth.publisher, policy=auth.quota_policy, prices=auth.prices,
        clock=auth.now, metrics=auth.metrics,
    )  # fmt: skip


async def reevaluate(user_id: str, *, auth: Auth) -> None:
    """After an admin changed a budget: restore or block at once."""
    await use_cases.reevaluate(
        user_id, ledger=auth.ledger, publisher=auth.publisher, policy=auth.quota_policy, clock=auth.now,
        metrics=auth.metrics,
    )  # fmt: skip


async def sweep(*, auth: Auth) -> None:
    """Lift blocks of past periods, announce current ones again."""
    await use_cases.sweep(
        ledger=auth.ledger, publisher=auth.publisher, policy=auth.quota_policy, clock=auth.now,
        metrics=auth.metrics,
    )  # fmt: skip


async def usage(
    *, user_id: str | None, since: date | None, until: date | None, limit: int, auth: Auth
) -> list[DailyUsage]:
    return await use_cases.usage(user_id=user_id, since=since, until=until, limit=limit, ledger=auth.ledger)
