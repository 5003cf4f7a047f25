"""Use cases of the events this gateway consumes from the broker: worker heartbeats, control
commands, quota announcements, and every gateway's prompts with their outcomes (the users'
rate windows and generation slots). Each is read through its inbox (`Inboxes`) first: one it
cannot decode, or whose sender is not a publisher of its type, is dropped there (logged)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parley_contracts import (
    CancelGeneration,
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    PromptSubmitted,
    QuotaExceeded,
    QuotaRestored,
    RequestSnapshot,
    UserAccessChanged,
    WorkerHeartbeat,
)
from parley_contracts.access import ACCESS_REQUESTS
from parley_contracts.senders import Senders
from parley_contracts.topology import counted_prompt
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stats import Finished, LatencyWindow
from parley_platform.inbox import Inbox

log = logging.getLogger(__name__)

Outcome = CompletionFinished | CompletionFailed | CompletionCancelled
PROMPT = PromptSubmitted.model_fields["type"].default


@dataclass(frozen=True)
class Inboxes:
    """What this gateway reads off the broker, each from its publishers only."""

    heartbeats: Inbox[WorkerHeartbeat]
    control: Inbox[CancelGeneration | RequestSnapshot]
    quota: Inbox[QuotaExceeded | QuotaRestored]
    outcomes: Inbox[Outcome]
    prompts: Inbox[PromptSubmitted]
    access: Inbox[UserAccessChanged]
    access_answers: Inbox[UserAccessChanged]
    """Whose answer to a request for recent access changes to believe: auth's."""

    @classmethod
    def of(cls, senders: Senders) -> Inboxes:
        def inbox(*models: Any, where: str) -> Any:
            return Inbox(*models, senders=senders, where=where, logger=log)

        return cls(
            heartbeats=inbox(WorkerHeartbeat, where="worker heartbeats"),
            control=inbox(CancelGeneration, RequestSnapshot, where="control commands"),
            quota=inbox(QuotaExceeded, QuotaRestored, where="quota events"),
            outcomes=inbox(
                CompletionFinished, CompletionFailed, CompletionCancelled, where="generation events"
            ),
            prompts=inbox(PromptSubmitted, where="generation events"),
            access=inbox(UserAccessChanged, where="access changes"),
            access_answers=inbox(UserAccessChanged, where=f"{ACCESS_REQUESTS} answers"),
        )


def record_heartbeat(beat: WorkerHeartbeat, *, registry: WorkerRegistry) -> None:
    registry.observe(
        beat.worker_id,
        models=beat.models,
        capacity=beat.capacity,
        free_slots=beat.free_slots,
        interval_s=beat.interval_s,
        stopping=beat.stopping,
    )


def record_quota(event: QuotaExceeded | QuotaRestored, *, blocked: BlockedUsers) -> None:
    """`quota.exceeded` blocks the user's prompts, `quota.restored` lifts that (from auth only)."""
    if isinstance(event, QuotaExceeded):
        if event.user_id not in blocked:
            log.info(
                "user %s is over quota %s (%s of %s): prompts refused",
                event.user_id,
                event.quota,
                event.used,
                event.limit,
            )
        blocked.block(event.user_id, event.occurred_at)
    else:
        if event.user_id in blocked:
            log.info("user %s may prompt again (%s)", event.user_id, event.reason)
        blocked.unblock(event.user_id, event.occurred_at)


def record_outcome(event: Outcome, *, latency: LatencyWindow, generations: GenerationLimiter) -> None:
    """A generation ended (finished, failed or cancelled): its user's slot is free, whether
    or not a client still follows it (a client that left does not end the generation); a
    finished answer's time to first token and decode rate go to `/api/stats`."""
    generations.finish(event.user_id, event.message_id)
    if isinstance(event, CompletionFinished):
        # Interned: the window holds 10,000 of these, nearly all naming the same few models.
        latency.add(Finished(sys.intern(event.model), event.ttft_ms, event.tokens_per_s))


def record_prompt(
    headers: Mapping[str, Any],
    *,
    sender: str | None,
    inbox: Inbox[PromptSubmitted],
    rate: PromptRateLimiter,
    generations: GenerationLimiter,
) -> None:
    """A prompt some gateway (this one too) accepted: it counts in its user's rate and holds a
    generation slot until its outcome event. Read from the message's headers, never its body;
    a prompt without them (a title request of history's) counts for nobody."""
    # Its routing key made it a prompt here, so that is the type its sender must publish.
    if not inbox.check(PROMPT, sender=sender):
        return
    counted = counted_prompt(headers)
    if counted is None:
        return
    user_id, message_id = counted
    rate.observe(user_id, message_id)
    generations.add(user_id, message_id)
