"""Use cases of the inference worker: generate an answer, cancel it, answer a
snapshot request (the outcomes it publishes are in `outcomes`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from opentelemetry import trace

from parley_contracts import (
    CancelGeneration,
    PromptSubmitted,
    RequestSnapshot,
    StreamRestarted,
    StreamSnapshots,
    Usage,
)
from parley_inference import outcomes
from parley_inference.domain.catalog import ModelCatalog
from parley_inference.domain.coalescer import WindowPolicy
from parley_inference.domain.errors import ErrorCode, GenerationError
from parley_inference.domain.generation import Generation
from parley_inference.generations import ActiveGenerations, DeltaStreamer, Running, Stop, withdrawals
from parley_inference.ports import ChatModel, EventPublisher, Metrics, NullMetrics, StreamSink
from parley_platform.recent import Recent

log = logging.getLogger(__name__)
# The token path is published on aiormq directly (no instrumentation there): one span
# covers an attempt's streaming, with the provider's HTTP call inside it.
_tracer = trace.get_tracer(__name__)

UNEXPECTED_MESSAGE = "The answer could not be generated because of an internal error."


class Outcome(StrEnum):
    """How a request ended for this worker; the consumer acks all but `ABORTED`."""

    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABORTED = "aborted"
    """Stopped by shutdown: the request goes back to the queue for another worker."""
    DUPLICATE = "duplicate"
    """This worker already holds a generation of that message."""


@dataclass
class Ports:
    catalog: ModelCatalog
    model: ChatModel
    stream: StreamSink
    events: EventPublisher
    worker_id: str
    coalesce: WindowPolicy = field(default_factory=lambda: WindowPolicy(0.05, 0.05, 1))
    metrics: Metrics = field(default_factory=NullMetrics)
    active: ActiveGenerations = field(default_factory=ActiveGenerations)
    withdrawn: Recent[tuple[UUID, str]] = field(default_factory=withdrawals)


@dataclass(frozen=True, slots=True)
class Generate:
    request: PromptSubmitted
    attempt: int = 0
    """How many times the request was delivered before (the queue's delivery count)."""


async def generate(cmd: Generate, *, ports: Ports) -> Outcome:
    """Stream one answer to the session queue and publish its outcome.

    Returns once the final frame and the domain event are out, so that the
    caller can ack the request; `ABORTED` means nothing final was published
    and the request must go back to the queue."""
    req = cmd.request
    gen = Generation(
        message_id=req.message_id,
        session_id=req.session_id,
        user_id=req.user_id,
        reply_to=req.reply_to,
        attempt=cmd.attempt,
    )
    running = Running(gen)
    if not ports.active.add(running):
        log.warning(
            "duplicate request message_id=%s session_id=%s: this worker already holds it",
            req.message_id,
            req.session_id,
        )
        return Outcome.DUPLICATE
    ports.metrics.generation_started()
    outcome = Outcome.FAILED
    try:
        outcome = await _run(cmd, running, ports)
        return outcome
    finally:
        running.ended = True
        ports.active.remove(running)
        ports.metrics.generation_ended(outcome.value)


async def _run(cmd: Generate, running: Running, ports: Ports) -> Outcome:
    req, gen = cmd.request, running.generation
    log.info(
        "generation start message_id=%s session_id=%s model=%s attempt=%d",
        req.message_id,
        req.session_id,
        req.model,
        cmd.attempt,
    )
    if ports.withdrawn.take((req.message_id, req.user_id)):
        # Stopped before any worker took it: no provider call, nothing to bill.
        log.info("generation withdrawn before it started message_id=%s", req.message_id)
        await outcomes.publish_cancelled(req, gen, ports, usage=Usage())
        return Outcome.CANCELLED
    if cmd.attempt > 0:
        restarted = StreamRestarted(message_id=gen.message_id, attempt=gen.attempt, seq=gen.next_seq())
        ports.stream.publish(gen.reply_to, restarted)
    attributes: dict[str, str | int] = {
        "parley.message_id": str(req.message_id),
        "parley.model": req.model,
        "parley.attempt": cmd.attempt,
    }
    with _tracer.start_as_current_span("stream to session", attributes=attributes) as span:
        streamer, error, interrupted = await _stream(req, running, ports)
        span.set_attribute("parley.stream_events", gen.seq)
        if error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(error.code)))
    running.ended = True
    stopped = interrupted or error is not None
    if running.stop is Stop.ABORT and stopped:
        log.info("generation aborted message_id=%s session_id=%s", req.message_id, req.session_id)
        return Outcome.ABORTED
    if streamer is not None:
        streamer.flush()
    if running.stop is Stop.CANCEL and stopped:
        await outcomes.publish_cancelled(req, gen, ports)
        return Outcome.CANCELLED
    if error is not None:
        await outcomes.publish_failed(req, gen, error, ports)
        return Outcome.FAILED
    await outcomes.publish_finished(req, gen, ports)
    return Outcome.FINISHED


async def _stream(
    req: PromptSubmitted, running: Running, ports: Ports
) -> tuple[DeltaStreamer | None, GenerationError | None, bool]:
    """Run the provider stream in a task of its own, so that a cancel or an
    abort can stop it (closing the provider connection) without touching the
    caller. Returns the streamer, the error if any, and whether it was stopped."""
    gen = running.generation
    loop = asyncio.get_running_loop()
    streamer: DeltaStreamer | None = None
    try:
        spec = ports.catalog.get(req.model)
        gen.started_at = loop.time()
        streamer = DeltaStreamer(
            gen,
            model=ports.model,
            sink=ports.stream,
            metrics=ports.metrics,
            window=lambda: ports.coalesce.window(len(ports.active)),
        )
        task = asyncio.create_task(streamer.run(spec, req))
        running.task = task
        if running.stop is not None:
            task.cancel()
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.cancelled():
            return streamer, None, True
        task.result()
        return streamer, None, False
    except GenerationError as exc:
        return streamer, exc, False
    except Exception:
        log.exception("generation failed message_id=%s session_id=%s", req.message_id, req.session_id)
        return streamer, GenerationError(ErrorCode.GENERATION_FAILED, UNEXPECTED_MESSAGE), False
    finally:
        if streamer is not None:
            streamer.stop_timer()
        if gen.finished_at is None:
            gen.finished_at = loop.time()


def cancel_generation(cmd: CancelGeneration, *, ports: Ports) -> bool:
    """Stop a generation this worker holds for that user; False if it holds none (the
    cancel is then remembered, in case the prompt is still on its way)."""
    running = ports.active.owned(cmd.message_id, cmd.user_id)
    if running is None:
        if cmd.message_id not in ports.active:
            ports.withdrawn.add((cmd.message_id, cmd.user_id))
        return False
    log.info("cancel requested message_id=%s", cmd.message_id)
    running.stop_with(Stop.CANCEL)
    return True


def answer_snapshot(cmd: RequestSnapshot, *, ports: Ports) -> int:
    """Publish one `stream.snapshots` on the session's queue, listing what this
    worker has published so far of every generation of that session. It goes
    on the same ordered path as the deltas, so it follows every delta it
    covers. Returns how many generations it lists."""
    items = tuple(r.generation.snapshot() for r in ports.active.running(cmd.session_id))
    ports.stream.publish(
        cmd.reply_to,
        StreamSnapshots(request_id=cmd.request_id, worker_id=ports.worker_id, items=items),
    )
    return len(items)


def abort_generations(*, ports: Ports) -> int:
    """Stop every generation without publishing an outcome (shutdown after
    the grace period): their requests go back to the queue."""
    stopped = ports.active.running()
    for running in stopped:
        running.stop_with(Stop.ABORT)
    return len(stopped)
