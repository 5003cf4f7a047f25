"""Use cases of the events this gateway consumes from the broker: worker heartbeats, control
commands, quota announcements, and every gateway's prompts with their outcomes (the users'
rate windows and generation slots). Each is dropped (logged) when it cannot be decoded or
its sender is not a publisher of its type."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from parley_contracts import (
    CONTROL_COMMANDS,
    CancelGeneration,
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    Event,
    EventDecoder,
    PromptSubmitted,
    QuotaExceeded,
    QuotaRestored,
    RequestSnapshot,
    UnsupportedEvent,
    WorkerHeartbeat,
)
from parley_contracts.senders import ForgedEvent, Senders
from parley_contracts.topology import counted_prompt
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stats import Finished, LatencyWindow

log = logging.getLogger(__name__)

HEARTBEATS = EventDecoder([WorkerHeartbeat])
CONTROL = EventDecoder(CONTROL_COMMANDS)
QUOTA = EventDecoder([QuotaExceeded, QuotaRestored])
OUTCOMES = EventDecoder([CompletionFinished, CompletionFailed, CompletionCancelled])
PROMPT = PromptSubmitted.model_fields["type"].default


def _decode(
    decoder: EventDecoder, body: bytes, *, what: str, sender: str | None, senders: Senders
) -> Event | None:
    """The event in `body`; None (logged) when this gateway does not understand it, or when
    `sender` (the broker user that published it) is not a publisher of its type."""
    try:
        event = senders.decode(decoder, body, sender)
    except ForgedEvent as exc:
        log.error("dropping a forged %s: %s", what, exc.reason)
        return None
    except UnsupportedEvent as exc:
        log.warning("dropping a %s this gateway does not understand: %s", what, exc.reason)
        return None
    return event


def record_heartbeat(body: bytes, *, sender: str | None, senders: Senders, registry: WorkerRegistry) -> None:
    beat = _decode(HEARTBEATS, body, what="heartbeat", sender=sender, senders=senders)
    if beat is None:
        return
    assert isinstance(beat, WorkerHeartbeat)
    registry.observe(
        beat.worker_id,
        models=beat.models,
        capacity=beat.capacity,
        free_slots=beat.free_slots,
        interval_s=beat.interval_s,
        stopping=beat.stopping,
    )


def record_quota(body: bytes, *, sender: str | None, senders: Senders, blocked: BlockedUsers) -> None:
    """`quota.exceeded` blocks the user's prompts, `quota.restored` lifts that (from auth only)."""
    event = _decode(QUOTA, body, what="quota event", sender=sender, senders=senders)
    if isinstance(event, QuotaExceeded):
        if event.user_id not in blocked:
            log.info(
                "user %s is over quota %s (%s of %s): prompts refused",
                event.user_id,
                event.quota,
                event.used,
                event.limit,
            )
        blocked.block(event.user_id)
    elif isinstance(event, QuotaRestored):
        if event.user_id in blocked:
            log.info("user %s may prompt again (%s)", event.user_id, event.reason)
        blocked.unblock(event.user_id)


def decode_control(
    body: bytes, *, sender: str | None, senders: Senders
) -> RequestSnapshot | CancelGeneration | None:
    command = _decode(CONTROL, body, what="control command", sender=sender, senders=senders)
    if command is None:
        return None
    assert isinstance(command, RequestSnapshot | CancelGeneration)
    return command


def record_outcome(
    body: bytes,
    *,
    sender: str | None,
    senders: Senders,
    latency: LatencyWindow,
    generations: GenerationLimiter,
) -> None:
    """A generation ended (finished, failed or cancelled): its user's slot is free, whether
    or not a client still follows it (a client that left does not end the generation); a
    finished answer's time to first token and decode rate go to `/api/stats`."""
    event = _decode(OUTCOMES, body, what="completion event", sender=sender, senders=senders)
    if event is None:
        return
    assert isinstance(event, CompletionFinished | CompletionFailed | CompletionCancelled)
    generations.finish(event.user_id, event.message_id)
    if isinstance(event, CompletionFinished):
        # Interned: the window holds 10,000 of these, nearly all naming the same few models.
        latency.add(Finished(sys.intern(event.model), event.ttft_ms, event.tokens_per_s))


def record_prompt(
    headers: Mapping[str, Any],
    *,
    sender: str | None,
    senders: Senders,
    rate: PromptRateLimiter,
    generations: GenerationLimiter,
) -> None:
    """A prompt some gateway (this one too) accepted: it counts in its user's rate and holds a
    generation slot until its outcome event. Read from the message's headers, never its body;
    a prompt without them (a title request of history's) counts for nobody."""
    try:
        # Its routing key made it a prompt here, so that is the type its sender must publish.
        senders.check(PROMPT, sender)
    except ForgedEvent as exc:
        log.error("dropping a forged prompt: %s", exc.reason)
        return
    counted = counted_prompt(headers)
    if counted is None:
        return
    user_id, message_id = counted
    rate.observe(user_id, message_id)
    generations.add(user_id, message_id)
