"""Use cases: what the gateway does for a frame or a broker message.

Each takes a command and its collaborators (ports and domain objects) and
returns a result or raises `GatewayError`; the WebSocket edge turns that into
frames.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

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
    new_id,
)
from parley_contracts.senders import ForgedEvent, Senders
from parley_contracts.topology import counted_prompt, inference_queue, session_queue
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import BrokerUnavailable, ErrorCode, GatewayError
from parley_gateway.domain.frames import Prompt
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.sessions import foreign, new_owned_id
from parley_gateway.domain.stats import Finished, LatencyWindow, summarise_usage
from parley_gateway.domain.stream import ResumeHold
from parley_gateway.ports import EventPublisher, SessionQueues

log = logging.getLogger(__name__)

HEARTBEATS = EventDecoder([WorkerHeartbeat])
CONTROL = EventDecoder(CONTROL_COMMANDS)
QUOTA = EventDecoder([QuotaExceeded, QuotaRestored])
OUTCOMES = EventDecoder([CompletionFinished, CompletionFailed, CompletionCancelled])
PROMPT = PromptSubmitted.model_fields["type"].default


@dataclass(frozen=True)
class SubmitPrompt:
    principal: Principal
    session_id: UUID
    prompt: Prompt
    message_id: UUID = field(default_factory=new_id)


@dataclass(frozen=True)
class Accepted:
    request_id: str
    conversation_id: UUID
    message_id: UUID
    prompt_message_id: UUID


def _refuse_unservable(command: SubmitPrompt, *, registry: WorkerRegistry, blocked: BlockedUsers) -> None:
    prompt, user_id = command.prompt, command.principal.user_id
    request_id = prompt.request_id
    if user_id in blocked:
        raise GatewayError(
            ErrorCode.QUOTA_EXCEEDED,
            "you have used up your token budget for this period; prompts are refused until it renews",
            request_id=request_id,
        )
    named = (prompt.conversation_id, prompt.parent_id, prompt.prompt_message_id, prompt.project_id)
    if any(id_ is not None and foreign(id_, user_id) for id_ in named):
        raise GatewayError(
            ErrorCode.NOT_FOUND,
            "no conversation, message or project of yours has this id",
            request_id=request_id,
        )
    if not registry.serves(prompt.model):
        raise GatewayError(
            ErrorCode.MODEL_UNAVAILABLE,
            f"no live worker serves model {prompt.model!r}",
            request_id=request_id,
        )


def _too_many_generations(limit: int, request_id: str) -> GatewayError:
    return GatewayError(
        ErrorCode.TOO_MANY_GENERATIONS,
        f"at most {limit} generations may run at once; stop one or wait for it to end",
        request_id=request_id,
    )


def _rate_limited(retry_after: float, request_id: str) -> GatewayError:
    return GatewayError(
        ErrorCode.RATE_LIMITED,
        f"too many prompts; try again in {max(retry_after, 0.1):.1f} s",
        request_id=request_id,
    )


def check_admission(
    command: SubmitPrompt,
    *,
    registry: WorkerRegistry,
    rate: PromptRateLimiter,
    generations: GenerationLimiter,
    blocked: BlockedUsers,
) -> None:
    """What `submit_prompt` would refuse, checked before anything is opened for the prompt (a
    session queue for `/v1`), taking nothing: a flood of refused requests costs no queues."""
    _refuse_unservable(command, registry=registry, blocked=blocked)
    user_id, request_id = command.principal.user_id, command.prompt.request_id
    if generations.active(user_id) >= generations.limit:
        raise _too_many_generations(generations.limit, request_id)
    retry_after = rate.wait(user_id)
    if retry_after is not None:
        raise _rate_limited(retry_after, request_id)


async def submit_prompt(
    command: SubmitPrompt,
    *,
    publisher: EventPublisher,
    registry: WorkerRegistry,
    rate: PromptRateLimiter,
    generations: GenerationLimiter,
    blocked: BlockedUsers,
) -> Accepted:
    prompt, user_id = command.prompt, command.principal.user_id
    request_id, message_id = prompt.request_id, command.message_id
    _refuse_unservable(command, registry=registry, blocked=blocked)
    if not generations.try_start(user_id, message_id):
        raise _too_many_generations(generations.limit, request_id)
    retry_after = rate.try_acquire(user_id, message_id)
    if retry_after is not None:
        generations.finish(user_id, message_id)
        raise _rate_limited(retry_after, request_id)
    event = PromptSubmitted(
        user_id=user_id,
        session_id=command.session_id,
        request_id=request_id,
        conversation_id=prompt.conversation_id or new_owned_id(user_id),
        message_id=message_id,
        prompt_message_id=prompt.prompt_message_id or new_owned_id(user_id),
        parent_id=prompt.parent_id,
        project_id=prompt.project_id if prompt.conversation_id is None else None,
        model=prompt.model,
        messages=prompt.messages,
        params=prompt.params,
        reply_to=session_queue(command.session_id).name,
    )
    try:
        await publisher.publish_prompt(event)
    except BrokerUnavailable as exc:
        generations.finish(user_id, message_id)
        rate.refund(user_id, message_id)
        log.warning("session %s message %s: prompt not published: %s", command.session_id, message_id, exc)
        if exc.maybe_sent:
            await _withdraw(publisher, message_id, user_id)
            message = "the message broker did not confirm the prompt in time; it was withdrawn, try again"
        else:
            message = "the message broker is unavailable; the prompt was not sent, try again"
        raise GatewayError(ErrorCode.BROKER_UNAVAILABLE, message, request_id=request_id) from exc
    log.info(
        "session %s message %s: prompt accepted (model %s, %d messages)",
        command.session_id,
        message_id,
        prompt.model,
        len(prompt.messages),
    )
    return Accepted(request_id, event.conversation_id, message_id, event.prompt_message_id)


async def _withdraw(publisher: EventPublisher, message_id: UUID, user_id: str) -> None:
    """A prompt that may have been queued although the client is told it was not: whichever
    worker takes it ends it at once as cancelled (workers remember cancels that come first)."""
    try:
        await publisher.publish_control(CancelGeneration(message_id=message_id, user_id=user_id))
    except BrokerUnavailable as exc:
        log.warning("message %s: not withdrawn (%s); it may still be answered", message_id, exc)


async def stop_generation(
    principal: Principal, message_id: UUID, *, running: bool, publisher: EventPublisher
) -> None:
    if not running:
        raise GatewayError(
            ErrorCode.UNKNOWN_MESSAGE,
            "no generation with this message_id is running in this session",
            message_id=message_id,
        )
    try:
        await publisher.publish_control(CancelGeneration(message_id=message_id, user_id=principal.user_id))
    except BrokerUnavailable as exc:
        raise GatewayError(
            ErrorCode.BROKER_UNAVAILABLE,
            "the message broker is unavailable; the stop was not sent, try again",
            message_id=message_id,
        ) from exc
    log.info("message %s: stop requested", message_id)


async def request_snapshots(
    session_id: UUID, *, publisher: EventPublisher, registry: WorkerRegistry, request_id: UUID | None = None
) -> ResumeHold:
    """Ask every worker for its generations of this session; the hold counts the answers."""
    command = RequestSnapshot(
        request_id=request_id or new_id(), session_id=session_id, reply_to=session_queue(session_id).name
    )
    hold = ResumeHold(command.request_id, registry.snapshot_holders())
    try:
        await publisher.publish_control(command)
    except BrokerUnavailable as exc:
        log.warning("session %s: snapshot request not published: %s", session_id, exc)
    return hold


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


def models_listing(registry: WorkerRegistry) -> dict[str, Any]:
    return {
        "models": [
            {"name": m.name, "workers": m.workers, "free_slots": m.free_slots} for m in registry.models()
        ]
    }


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


async def admin_stats(
    usage_rows: list[dict[str, Any]],
    *,
    registry: WorkerRegistry,
    latency: LatencyWindow,
    queues: SessionQueues,
) -> dict[str, Any]:
    """Usage totals, latency percentiles, live workers, generations in flight and queue depths."""
    workers = registry.live()
    models = registry.models()
    depths = await queues.depths([inference_queue(m.name).name for m in models])
    return {
        "usage": summarise_usage(usage_rows),
        "latency": latency.summary(),
        "workers": [
            {
                "worker_id": w.worker_id,
                "models": list(w.models),
                "capacity": w.capacity,
                "free_slots": w.free_slots,
                "stopping": w.stopping,
            }
            for w in workers
        ],
        "generations_in_flight": sum(max(w.capacity - w.free_slots, 0) for w in workers if not w.stopping),
        "queues": [
            {
                "model": m.name,
                "queue": inference_queue(m.name).name,
                "ready": depths.get(inference_queue(m.name).name),
            }
            for m in models
        ],
    }
