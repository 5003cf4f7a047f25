"""Use cases of usage accounting and quotas: `completion.finished` into the
ledger (once per `event_id`, and once per `message_id`), budgets per period,
`quota.exceeded` and `quota.restored` on `chat.events`.

A message may finish twice under two event ids: its worker published the outcome,
the confirm was lost, and the request, delivered again, was generated again. The
message is billed for the first of its completions by (`occurred_at`, `event_id`):
the answer its user saw (the gateway forwards the first `done` only) and history
keeps. When a later completion was billed first, its bill is taken back, so that the
ledger ends the same whatever the order of delivery.

Quota events are published inside the ledger transaction, before it commits:
a failed publish rolls the event back for redelivery; a commit failing after
a publish only repeats an idempotent announcement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Literal

from parley_auth.adapters.orm import BilledMessageRow, QuotaBlockRow, UsageRow
from parley_auth.adapters.repository import Repository
from parley_auth.bootstrap import Auth
from parley_auth.domain.quota import Price, effective_budget, period_start, quota_name
from parley_contracts import CompletionFinished, QuotaExceeded, QuotaRestored

log = logging.getLogger(__name__)


async def _override(repo: Repository, user_id: str) -> int | None:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    user = await repo.user(key)
    return None if user is None else user.budget_tokens


async def _evaluate(
    repo: Repository, user_id: str, *, auth: Auth, reason: Literal["period_rolled", "budget_raised"]
) -> None:
    """Block or unblock one user for the current period, publishing what changed."""
    await repo.lock_quota(user_id)
    settings = auth.settings
    current = period_start(auth.now(), settings.budget_period)
    budget = effective_budget(await _override(repo, user_id), settings.default_budget_tokens)
    used = await repo.tokens_used(user_id, current)
    block = await repo.block(user_id)
    name = quota_name(settings.budget_period)
    if block is not None and (block.period_start < current or not budget.exceeded(used)):
        await repo.remove_block(block)
        why: Literal["period_rolled", "budget_raised"] = (
            "period_rolled" if block.period_start < current else reason
        )
        await auth.publisher.publish(
            QuotaRestored(user_id=user_id, quota=name, limit=budget.limit, used=used, reason=why)
        )
        auth.metrics.quota.labels("quota.restored").inc()
        block = None
    if block is not None:
        block.used = used  # the period's total so far, whichever completion crossed the budget
    elif budget.exceeded(used):
        await repo.add_block(
            QuotaBlockRow(user_id=user_id, period_start=current, quota=name, limit=budget.limit, used=used)
        )
        await auth.publisher.publish(
            QuotaExceeded(user_id=user_id, quota=name, limit=budget.limit, used=used)
        )
        auth.metrics.quota.labels("quota.exceeded").inc()


def _version(at: datetime, event_id: uuid.UUID) -> tuple[datetime, uuid.UUID]:
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)), event_id


async def record_completion(event: CompletionFinished, *, auth: Auth) -> bool:
    """Account one finished completion; False when it changes nothing: this event was
    counted before, or an earlier completion of the same message is billed already."""
    async with auth.db.transaction() as repo:
        if not await repo.mark_processed(event.event_id, auth.now()):
            return False
        await repo.lock_quota(event.user_id)  # two completions of one message wait for each other
        billed = await repo.billed(event.message_id)
        version = _version(event.occurred_at, event.event_id)
        if billed is not None and _version(billed.occurred_at, billed.event_id) <= version:
            log.info(
                "message %s finished again: event %s is not earlier than the billed %s, not billed",
                event.message_id,
                event.event_id,
                billed.event_id,
            )
            return False
        known = await repo.catalog.price(event.model)  # the catalogue's prices first
        price = Price(*known) if known is not None else auth.prices.get(event.model, Price())
        usage = event.usage
        bill = BilledMessageRow(
            message_id=event.message_id,
            event_id=event.event_id,
            occurred_at=version[0],
            user_id=event.user_id,
            model=event.model,
            day=event.occurred_at.date(),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_nanos=price.cost_nanos(usage.prompt_tokens, usage.completion_tokens),
        )
        if billed is not None:
            log.info(
                "message %s finished again: billed for event %s instead of %s",
                event.message_id,
                event.event_id,
                billed.event_id,
            )
        await repo.bill(bill, instead_of=billed)
        await _evaluate(repo, event.user_id, auth=auth, reason="budget_raised")
    return True


async def reevaluate(user_id: str, *, auth: Auth) -> None:
    """After an admin changed a budget: restore or block at once."""
    async with auth.db.transaction() as repo:
        await _evaluate(repo, user_id, auth=auth, reason="budget_raised")


async def sweep(*, auth: Auth) -> None:
    """Lift blocks of past periods, and announce current blocks again so that
    gateways started since learn them."""
    async with auth.db.transaction() as repo:
        blocks = list(await repo.blocks())
    for block in blocks:
        async with auth.db.transaction() as repo:
            current = await repo.block(block.user_id)
            if current is None:
                continue
            await _evaluate(repo, block.user_id, auth=auth, reason="budget_raised")
            still = await repo.block(block.user_id)
            if still is not None and still is current:
                await auth.publisher.publish(
                    QuotaExceeded(
                        user_id=still.user_id, quota=still.quota, limit=still.limit, used=still.used
                    )
                )


async def usage(
    *, user_id: str | None, since: date | None, until: date | None, limit: int, auth: Auth
) -> Sequence[UsageRow]:
    async with auth.db.transaction() as repo:
        return await repo.usage(user_id=user_id, since=since, until=until, limit=limit)
