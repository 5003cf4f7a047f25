"""What the use cases need from the outside world, as small protocols."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from parley_contracts import ChatMessage, DomainEvent, Event, GenerationParams
from parley_inference.domain.catalog import ModelSpec
from parley_inference.domain.sse import Chunk


class ChatModel(Protocol):
    """Streams an answer from a provider. Raises `GenerationError` with a
    stable code for every provider failure. Closing the iterator (or
    cancelling the task iterating it) closes the provider connection."""

    def stream(
        self, model: ModelSpec, messages: tuple[ChatMessage, ...], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]: ...


class StreamSink(Protocol):
    """Stream events to a session queue, in the order they are given.

    `publish` returns at once (no publisher confirm, no waiting on the
    socket): the token path must not wait on each message. `publish_last`
    returns once the event and everything before it were written out."""

    def publish(self, reply_to: str, event: Event) -> None: ...

    async def publish_last(self, reply_to: str, event: Event) -> None: ...


class EventPublisher(Protocol):
    """Domain events to `chat.events`, returning once the broker confirmed."""

    async def publish(self, event: DomainEvent) -> None: ...


class Metrics(Protocol):
    def generation_started(self) -> None: ...

    def generation_ended(self, outcome: str) -> None: ...

    def first_token(self, ttft_s: float) -> None: ...

    def inter_token(self, gap_s: float) -> None: ...

    def completion_tokens(self, model: str, tokens: int) -> None: ...

    def decode_rate(self, tokens_per_s: float) -> None: ...

    def provider_error(self, code: str) -> None: ...

    def delta_published(self) -> None: ...


class NullMetrics:
    """Metrics that go nowhere (tests, or no metrics port)."""

    def generation_started(self) -> None:
        return None

    def generation_ended(self, outcome: str) -> None:
        return None

    def first_token(self, ttft_s: float) -> None:
        return None

    def inter_token(self, gap_s: float) -> None:
        return None

    def completion_tokens(self, model: str, tokens: int) -> None:
        return None

    def decode_rate(self, tokens_per_s: float) -> None:
        return None

    def provider_error(self, code: str) -> None:
        return None

    def delta_published(self) -> None:
        return None
