"""The generations a worker holds, and how their text reaches the session queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from parley_contracts import PromptSubmitted, TokenDelta
from parley_inference.domain.catalog import ModelSpec
from parley_inference.domain.coalescer import Coalescer
from parley_inference.domain.errors import cut_off
from parley_inference.domain.generation import Generation
from parley_inference.ports import ChatModel, Metrics, StreamSink
from parley_platform.recent import Recent


class Stop(StrEnum):
    CANCEL = "cancel"
    """The user asked: end with what was generated so far."""
    ABORT = "abort"
    """Shutdown: end without an outcome, the request goes back to the queue."""


@dataclass(slots=True, eq=False)
class Running:
    """One generation this worker holds, and the task reading its provider stream."""

    generation: Generation
    task: asyncio.Task[None] | None = None
    stop: Stop | None = None
    ended: bool = False
    """Its end frame is being published: no more cancels or snapshots."""

    def stop_with(self, reason: Stop) -> None:
        if self.stop is None or reason is Stop.ABORT:
            self.stop = reason
        if self.task is not None:
            self.task.cancel()


class ActiveGenerations:
    """The generations this worker holds, by message id."""

    def __init__(self) -> None:
        self._by_message: dict[UUID, Running] = {}

    def __len__(self) -> int:
        return len(self._by_message)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._by_message

    def add(self, running: Running) -> bool:
        """False when a generation of that message is held already."""
        if running.generation.message_id in self._by_message:
            return False
        self._by_message[running.generation.message_id] = running
        return True

    def remove(self, running: Running) -> None:
        if self._by_message.get(running.generation.message_id) is running:
            del self._by_message[running.generation.message_id]

    def owned(self, message_id: UUID, user_id: str) -> Running | None:
        """The running generation of that message, if it is that user's."""
        running = self._by_message.get(message_id)
        if running is None or running.ended or running.generation.user_id != user_id:
            return None
        return running

    def running(self, session_id: UUID | None = None) -> list[Running]:
        return [
            r
            for r in self._by_message.values()
            if not r.ended and (session_id is None or r.generation.session_id == session_id)
        ]


WITHDRAWN_FOR_S = 600.0
WITHDRAWN_AT_MOST = 10_000


def withdrawals() -> Recent[tuple[UUID, str]]:
    """Cancels (message id, user id) of generations this worker did not hold when they came:
    the prompt may still be on its way (waiting in the model's queue behind others, or one
    whose publisher confirm the gateway gave up on). Whichever worker then takes it ends it
    at once as cancelled. Every worker sees every cancel, so each remembers them."""
    return Recent(for_s=WITHDRAWN_FOR_S, at_most=WITHDRAWN_AT_MOST)


class DeltaStreamer:
    """Reads the provider stream of one generation and publishes its text as
    coalesced `token.delta` events. A loop timer flushes held text at the
    coalescer's deadline, so a slow trickle is never held past the window.
    `window` gives the current window (it widens while the worker is busy)."""

    def __init__(
        self,
        generation: Generation,
        *,
        model: ChatModel,
        sink: StreamSink,
        metrics: Metrics,
        window: Callable[[], float],
    ) -> None:
        self._gen = generation
        self._model = model
        self._sink = sink
        self._metrics = metrics
        self._loop = asyncio.get_running_loop()
        self._window = window
        self._coalescer = Coalescer(window())
        self._timer: asyncio.TimerHandle | None = None
        self._last_text_at: float | None = None

    async def run(self, spec: ModelSpec, request: PromptSubmitted) -> None:
        gen = self._gen
        async with aclosing(self._model.stream(spec, request.messages, request.params)) as chunks:
            async for chunk in chunks:
                if chunk.text:
                    self._on_text(chunk.text)
                if chunk.finish_reason is not None:
                    gen.provider_finish_reason = chunk.finish_reason
                if chunk.usage is not None:
                    gen.provider_usage = chunk.usage
        gen.finished_at = self._loop.time()
        if gen.provider_finish_reason is None:
            raise cut_off()

    def _on_text(self, text: str) -> None:
        now = self._loop.time()
        first = self._gen.first_token_at is None
        self._gen.on_text(text, now)
        if first:
            self._metrics.first_token(now - self._gen.started_at)
        elif self._last_text_at is not None:
            self._metrics.inter_token(now - self._last_text_at)
        self._last_text_at = now
        self._coalescer.window = self._window()
        out = self._coalescer.push(text, now)
        if out is not None:
            self.stop_timer()
            self._publish(out)
        elif self._timer is None:
            deadline = self._coalescer.deadline
            if deadline is not None:
                self._timer = self._loop.call_at(deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self.flush()

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def flush(self) -> None:
        """Publish whatever text is held (deadline, end of stream, cancel)."""
        out = self._coalescer.flush(self._loop.time())
        if out is not None:
            self._publish(out)

    def _publish(self, text: str) -> None:
        gen = self._gen
        gen.published.append(text)
        delta = TokenDelta(message_id=gen.message_id, attempt=gen.attempt, seq=gen.next_seq(), text=text)
        self._sink.publish(gen.reply_to, delta)
        self._metrics.delta_published()
