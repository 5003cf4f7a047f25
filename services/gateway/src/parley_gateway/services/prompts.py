"""Use cases of a prompt: admission (limits, quota, ownership, a live model), publishing it,
withdrawing it when its publish is in doubt, and stopping its generation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

from parley_contracts import CancelGeneration, PromptSubmitted, new_id
from parley_contracts.topology import session_queue
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import BrokerUnavailable, ErrorCode, GatewayError
from parley_gateway.domain.frames import Prompt
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.sessions import foreign, new_owned_id
from parley_gateway.ports import EventPublisher

log = logging.getLogger(__name__)


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
