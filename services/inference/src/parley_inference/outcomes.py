"""How a generation ends, for its client (the last frame on its session queue) and for the
record (`completion.*` on `chat.events`): finished, cancelled, failed, or dead-lettered."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from parley_contracts import (
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    FinishReason,
    PromptSubmitted,
    StreamFailed,
    StreamFinished,
    StreamMetrics,
    Usage,
)
from parley_inference.domain.errors import ErrorCode, GenerationError
from parley_inference.domain.generation import Generation, finish_reason

if TYPE_CHECKING:
    from parley_inference.services import Ports

log = logging.getLogger(__name__)

DEAD_LETTER_MESSAGE = "The answer could not be generated: the request failed repeatedly and was given up."
UNROUTED_MESSAGE = "The answer could not be generated: no worker serves the model {model!r} any more."


def _about(req: PromptSubmitted, ports: Ports) -> dict[str, Any]:
    """What every outcome of `req` says about whom and what it is."""
    return {
        "user_id": req.user_id,
        "conversation_id": req.conversation_id,
        "message_id": req.message_id,
        "model": req.model,
        "worker_id": ports.worker_id,
    }


def _end_frame(gen: Generation, reason: FinishReason, usage: Usage, metrics: StreamMetrics) -> StreamFinished:
    """The last frame of an answer that ended (finished or cancelled): its whole text."""
    return StreamFinished(
        message_id=gen.message_id,
        attempt=gen.attempt,
        seq=gen.next_seq(),
        text=gen.text,
        finish_reason=reason,
        usage=usage,
        metrics=metrics,
    )


async def publish_finished(req: PromptSubmitted, gen: Generation, ports: Ports) -> None:
    usage = gen.usage(req.messages)
    metrics = gen.metrics(usage.completion_tokens)
    reason = finish_reason(gen.provider_finish_reason)
    text = gen.text
    await ports.stream.publish_last(gen.reply_to, _end_frame(gen, reason, usage, metrics))
    await ports.events.publish(
        CompletionFinished(
            **_about(req, ports),
            text=text,
            finish_reason=reason,
            usage=usage,
            ttft_ms=metrics.ttft_ms,
            tokens_per_s=metrics.tokens_per_s,
        )
    )
    ports.metrics.completion_tokens(req.model, usage.completion_tokens)
    if metrics.tokens_per_s is not None:
        ports.metrics.decode_rate(metrics.tokens_per_s)
    log.info(
        "generation finished message_id=%s session_id=%s reason=%s tokens=%d ttft_ms=%s tokens_per_s=%s",
        req.message_id,
        req.session_id,
        reason,
        usage.completion_tokens,
        metrics.ttft_ms,
        metrics.tokens_per_s,
    )


async def publish_cancelled(
    req: PromptSubmitted, gen: Generation, ports: Ports, *, usage: Usage | None = None
) -> None:
    usage = usage if usage is not None else gen.usage(req.messages)
    text = gen.text
    await ports.stream.publish_last(
        gen.reply_to, _end_frame(gen, "cancelled", usage, gen.metrics(usage.completion_tokens))
    )
    await ports.events.publish(
        CompletionCancelled(
            **_about(req, ports),
            text=text,
            usage=usage,
        )
    )
    log.info("generation cancelled message_id=%s session_id=%s", req.message_id, req.session_id)


async def publish_failed(req: PromptSubmitted, gen: Generation, error: GenerationError, ports: Ports) -> None:
    ports.metrics.provider_error(error.code.value)
    await ports.stream.publish_last(
        gen.reply_to,
        StreamFailed(
            message_id=gen.message_id,
            attempt=gen.attempt,
            seq=gen.next_seq(),
            code=error.code.value,
            message=error.message,
        ),
    )
    await ports.events.publish(
        CompletionFailed(
            **_about(req, ports),
            code=error.code.value,
            message=error.message,
        )
    )
    log.warning(
        "generation failed message_id=%s session_id=%s code=%s: %s",
        req.message_id,
        req.session_id,
        error.code.value,
        error.message,
    )


async def fail_dead_request(request: PromptSubmitted, *, code: ErrorCode, attempt: int, ports: Ports) -> None:
    """A request that kept failing (its workers died), or that no model queue
    took, was dead-lettered: end it for the client and for the record."""
    if code is ErrorCode.MODEL_UNAVAILABLE:
        message = UNROUTED_MESSAGE.format(model=request.model)
    else:
        message = DEAD_LETTER_MESSAGE
    await ports.stream.publish_last(
        request.reply_to,
        StreamFailed(message_id=request.message_id, attempt=attempt, seq=1, code=code.value, message=message),
    )
    await ports.events.publish(
        CompletionFailed(
            **_about(request, ports),
            code=code.value,
            message=message,
        )
    )
    ports.metrics.provider_error(code.value)
    log.warning(
        "dead-lettered request failed (%s) message_id=%s session_id=%s",
        code.value,
        request.message_id,
        request.session_id,
    )
