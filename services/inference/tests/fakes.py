"""Fakes that record state: the tests read what was published and what the
model was asked, not which methods were called."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from parley_contracts import ChatMessage, DomainEvent, Event, GenerationParams, StreamEvent
from parley_inference.domain.catalog import ModelCatalog, ModelSpec
from parley_inference.domain.coalescer import WindowPolicy
from parley_inference.domain.sse import Chunk, TokenCounts
from parley_inference.services import Ports


@dataclass
class Reply:
    """What the fake model answers."""

    tokens: list[str] = field(default_factory=lambda: ["Hello", ",", " world", "!"])
    delay_s: float = 0.0
    """Pause before each token after the first."""
    first_delay_s: float = 0.0
    delays: list[float] | None = None
    """Per-token pauses (overrides delay_s/first_delay_s)."""
    usage: TokenCounts | None = None
    finish_reason: str | None = "stop"
    """None: the stream ends without one, as a cut-off server's does."""
    fail_after: int | None = None
    """Raise `error` after this many tokens."""
    error: Exception = field(default_factory=lambda: RuntimeError("boom"))


@dataclass
class Call:
    model: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    yielded_at: list[float] = field(default_factory=list)
    completed: bool = False
    closed: bool = False


class FakeChatModel:
    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply or Reply()
        self.calls: list[Call] = []

    async def stream(
        self, model: ModelSpec, messages: tuple[ChatMessage, ...], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        reply = self.reply
        call = Call(model=model.name, messages=messages, params=params)
        self.calls.append(call)
        loop = asyncio.get_running_loop()
        delays = reply.delays or [
            reply.first_delay_s if i == 0 else reply.delay_s for i in range(len(reply.tokens))
        ]
        try:
            for index, token in enumerate(reply.tokens):
                if reply.fail_after is not None and index == reply.fail_after:
                    raise reply.error
                if delays[index] > 0:
                    await asyncio.sleep(delays[index])
                call.yielded_at.append(loop.time())
                yield Chunk(text=token)
            if reply.fail_after is not None and reply.fail_after >= len(reply.tokens):
                raise reply.error
            if reply.finish_reason is not None:
                yield Chunk(finish_reason=reply.finish_reason)
            if reply.usage is not None:
                yield Chunk(usage=reply.usage)
            call.completed = True
        finally:
            call.closed = True


@dataclass
class Sent:
    reply_to: str
    event: Event
    at: float
    last: bool


class FakeStreamSink:
    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def publish(self, reply_to: str, event: Event) -> None:
        self.sent.append(Sent(reply_to, event, asyncio.get_running_loop().time(), last=False))

    async def publish_last(self, reply_to: str, event: Event) -> None:
        await asyncio.sleep(0)
        self.sent.append(Sent(reply_to, event, asyncio.get_running_loop().time(), last=True))

    def events(self, type_: str | None = None) -> list[Event]:
        return [s.event for s in self.sent if type_ is None or s.event.type == type_]

    def stream_events(self) -> list[StreamEvent]:
        """Events of generations (snapshots left out)."""
        return [s.event for s in self.sent if isinstance(s.event, StreamEvent)]


class FakeEventPublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.fail_with: Exception | None = None

    async def publish(self, event: DomainEvent) -> None:
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(event)


def model_spec(name: str = "test", **overrides: object) -> ModelSpec:
    values: dict[str, object] = {
        "name": name,
        "base_url": "http://127.0.0.1:9/v1",
        "model": f"upstream-{name}",
        "max_tokens": 256,
    }
    values.update(overrides)
    return ModelSpec.model_validate(values)


def make_ports(
    reply: Reply | None = None, *, window_s: float = 0.05, catalog: ModelCatalog | None = None
) -> tuple[Ports, FakeChatModel, FakeStreamSink, FakeEventPublisher]:
    model = FakeChatModel(reply)
    sink = FakeStreamSink()
    events = FakeEventPublisher()
    ports = Ports(
        catalog=catalog or ModelCatalog([model_spec()]),
        model=model,
        stream=sink,
        events=events,
        worker_id="worker-test",
        coalesce=WindowPolicy(window_s, window_s, 1),
    )
    return ports, model, sink, events


__all__ = [
    "Call",
    "FakeChatModel",
    "FakeEventPublisher",
    "FakeStreamSink",
    "Reply",
    "Sent",
    "make_ports",
    "model_spec",
]
