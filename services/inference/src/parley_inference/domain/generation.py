"""The state of one generation attempt, as the worker publishes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from parley_contracts import ChatMessage, FinishReason, SnapshotItem, StreamMetrics, Usage
from parley_inference.domain.sse import TokenCounts

_CHARS_PER_TOKEN = 4
_TOKENS_PER_MESSAGE = 4


def estimate_prompt_tokens(messages: tuple[ChatMessage, ...]) -> int:
    """A rough prompt size for providers that report no usage: about four
    characters per token plus a few tokens of chat template per message."""
    return sum(-(-len(m.content) // _CHARS_PER_TOKEN) + _TOKENS_PER_MESSAGE for m in messages)


def finish_reason(provider_reason: str | None) -> FinishReason:
    """The provider's reason in the contract's terms: `length` when the token
    limit cut the answer, `stop` for every other end."""
    return "length" if provider_reason == "length" else "stop"


@dataclass(slots=True)
class Generation:
    """What has been published for one attempt of one message.

    `seq` is the last stream event's number (0 before the first); `published`
    holds the text of every delta published so far, so that a snapshot gives
    exactly what the session queue carries up to `seq`.
    """

    message_id: UUID
    session_id: UUID
    user_id: str
    reply_to: str
    attempt: int
    seq: int = 0
    published: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    chunks_with_text: int = 0
    started_at: float = 0.0
    first_token_at: float | None = None
    finished_at: float | None = None
    provider_usage: TokenCounts | None = None
    provider_finish_reason: str | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def on_text(self, text: str, now: float) -> None:
        self.received.append(text)
        self.chunks_with_text += 1
        if self.first_token_at is None:
            self.first_token_at = now

    @property
    def text(self) -> str:
        """All the text received from the provider so far."""
        return "".join(self.received)

    @property
    def published_text(self) -> str:
        return "".join(self.published)

    def snapshot(self) -> SnapshotItem:
        return SnapshotItem(
            message_id=self.message_id, attempt=self.attempt, seq=self.seq, text=self.published_text
        )

    def usage(self, messages: tuple[ChatMessage, ...]) -> Usage:
        """The provider's usage when it sent one; otherwise completion tokens
        counted as the chunks that carried text and an estimated prompt size."""
        if self.provider_usage is not None:
            return Usage(
                prompt_tokens=self.provider_usage.prompt_tokens,
                completion_tokens=self.provider_usage.completion_tokens,
            )
        return Usage(
            prompt_tokens=estimate_prompt_tokens(messages),
            completion_tokens=self.chunks_with_text,
            source="counted",
        )

    def metrics(self, completion_tokens: int) -> StreamMetrics:
        """Time to first token from the provider request, and the decode rate
        after the first token (tokens/s needs at least two tokens)."""
        ttft_ms = None
        tokens_per_s = None
        if self.first_token_at is not None:
            ttft_ms = round((self.first_token_at - self.started_at) * 1000, 3)
            end = self.finished_at
            if end is not None and completion_tokens >= 2 and end > self.first_token_at:
                tokens_per_s = round((completion_tokens - 1) / (end - self.first_token_at), 3)
        return StreamMetrics(ttft_ms=ttft_ms, tokens_per_s=tokens_per_s)
