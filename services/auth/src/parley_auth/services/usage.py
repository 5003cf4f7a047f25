"""Use cases of usage accounting and quotas: `completion.finished` into the ledger
(once per `event_id`, and once per `message_id`), budgets per period, `quota.exceeded`
and `quota.restored` on `chat.events`.

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
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Literal

from parley_auth.domain.quota import (
    Bill,
    DailyUsage,
    Price,
    QuotaBlock,
    QuotaPolicy,
    completion_order,
    effective_budget,
    period_start,
    quota_name,
)
from parley_auth.ports import EventPublisher, Ledger, LedgerStore, Now, QuotaMetrics
from parley_contracts import CompletionFinished, QuotaExceeded, QuotaRestored

log = logging.getLogger(__name__)

Reason = Literal["period_rolled", "budget_raised"]
Decision = Literal["exceeded", "restored", "unchanged"]


async def record_completion(
    event: CompletionFinished,
    *,
    ledger: LedgerStore,
    publisher: EventPublisher,
    policy: QuotaPolicy,
    prices: Mapping[str, Price],
    clock: Now,
    metrics: QuotaMetrics,
) -> bool:
    """Account one finished completion; False when it changes nothing: this event was
    counted before, or an earlier completion of the same message is billed already."""
    async with ledger.transaction() as records:
        if not await records.mark_processed(event.event_id, clock()):
            return False
        await records.lock_quota(event.user_id)  # two completions of one message wait for each other
        billed = await records.billed(event.message_id)
        order = completion_order(event.occurred_at, event.event_id)
        if billed is not None and billed.order <= order:
            log.info(
                "message %s finished again: event %s is not earlier than the billed %s, not billed",
                event.message_id,
                event.event_id,
                billed.event_id,
            )
            return False
        known = await records.price(event.model)  # the catalogue's prices first
        price = known if known is not None else prices.get(event.model, Price())
        usage = event.usage
        bill = Bill(
            message_id=event.message_id, event_id=event.event_id, occurred_at=order[0],
            user_id=event.user_id, model=event.model, day=event.occurred_at.date(),
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost_nanos=price.cost_nanos(usage.prompt_tokens, usage.completion_tokens),
        )  # fmt: skip
        if billed is not None:
            log.info(
                "message %s finished again: billed for event %s instead of %s",
                event.message_id,
                event.event_id,
                billed.event_id,
            )
        await records.bill(bill, instead_of=billed)
        await _evaluate(
            records, event.user_id, "budget_raised",
            publisher=publisher, policy=policy, clock=clock, metrics=metrics,
        )  # fmt: skip
    return True


async def reevaluate(
    user_id: str,
    *,
    ledger: LedgerStore,
    publisher: EventPublisher,
    policy: QuotaPolicy,
    clock: Now,
    metrics: QuotaMetrics,
) -> None:
    """After an admin changed a budget: restore or block at once."""
    async with ledger.transaction() as records:
        await _evaluate(
            records, user_id, "budget_raised",
            publisher=publisher, policy=policy, clock=clock, metrics=metrics,
        )  # fmt: skip


async def sweep(
    *, ledger: LedgerStore, publisher: EventPublisher, policy: QuotaPolicy, clock: Now, metrics: QuotaMetrics
) -> None:
    """Lift blocks of past periods, and announce current blocks again so that
    gateways started since learn them."""
    async with ledger.transaction() as records:
        blocks = await records.blocks()
    for block in blocks:
        async with ledger.transaction() as records:
            if await records.block(block.user_id) is None:
                continue
            decision = await _evaluate(
                records, block.user_id, "budget_raised",
                publisher=publisher, policy=policy, clock=clock, metrics=metrics,
            )  # fmt: skip
            still = await records.block(block.user_id)
            if still is not None and decision == "unchanged":
                await publisher.publish(
                    QuotaExceeded(
                        user_id=still.user_id, quota=still.quota, limit=still.limit, used=still.used
                    )
                )


async def usage(
    *, user_id: str | None, since: date | None, until: date | None, limit: int, ledger: LedgerStore
) -> list[DailyUsage]:
    async with ledger.transaction() as records:
        return await records.usage(user_id=user_id, since=since, until=until, limit=limit)


async def _evaluate(
    records: Ledger,
    user_id: str,
    reason: Reason,
    *,
    publisher: EventPublisher,
    policy: QuotaPolicy,
    clock: Now,
    metrics: QuotaMetrics,
) -> Decision:
    """Block or unblock one user for the current period, publishing what changed. A block
    of a past period is lifted (and a new one made when this period is over budget too)."""
    await records.lock_quota(user_id)
    current = period_start(clock(), policy.period)
    budget = effective_budget(await records.budget_override(user_id), policy.default_budget_tokens)
    used = await records.tokens_used(user_id, current)
    block = await records.block(user_id)
    name = quota_name(policy.period)
    decision: Decision = "unchanged"
    if block is not None and (block.period_start < current or not budget.exceeded(used)):
        await records.remove_block(user_id)
        why: Reason = "period_rolled" if block.period_start < current else reason
        await publisher.publish(
            QuotaRestored(user_id=user_id, quota=name, limit=budget.limit, used=used, reason=why)
        )
        metrics.quota.labels("quota.restored").inc()
        block, decision = None, "restored"
    if block is not None:
        if block.used != used:  # the period's total so far, whichever completion crossed the budget
            await records.save_block(replace(block, used=used))
    elif budget.exceeded(used):
        await records.add_block(
            QuotaBlock(user_id=user_id, period_start=current, quota=name, limit=budget.limit, used=used)
        )
        await publisher.publish(QuotaExceeded(user_id=user_id, quota=name, limit=budget.limit, used=used))
        metrics.quota.labels("quota.exceeded").inc()
        decision = "exceeded"
    return decision
