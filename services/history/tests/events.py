"""Building contract events for tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from parley_contracts import (
    ChatMessage,
    CompletionFailed,
    CompletionFinished,
    PromptSubmitted,
    Usage,
    new_id,
    utcnow,
)


def prompt(
    user: str,
    text: str,
    *,
    conversation_id: UUID | None = None,
    parent_id: UUID | None = None,
    at: datetime | None = None,
    system: str | None = None,
    model: str = "test-model",
) -> PromptSubmitted:
    messages = [ChatMessage(role="system", content=system)] if system else []
    messages.append(ChatMessage(role="user", content=text))
    session = new_id()
    return PromptSubmitted(
        user_id=user,
        session_id=session,
        request_id=f"r-{new_id().hex[:8]}",
        conversation_id=conversation_id or new_id(),
        message_id=new_id(),
        prompt_message_id=new_id(),
        parent_id=parent_id,
        model=model,
        messages=tuple(messages),
        reply_to=f"session.{session}",
        occurred_at=at or utcnow(),
    )


def finished(p: PromptSubmitted, text: str, *, after_s: float = 1.0) -> CompletionFinished:
    return CompletionFinished(
        user_id=p.user_id,
        conversation_id=p.conversation_id,
        message_id=p.message_id,
        model=p.model,
        worker_id="w1",
        text=text,
        finish_reason="stop",
        usage=Usage(prompt_tokens=7, completion_tokens=len(text.split())),
        ttft_ms=12.5,
        tokens_per_s=48.0,
        occurred_at=p.occurred_at + timedelta(seconds=after_s),
    )


def failed(p: PromptSubmitted, *, after_s: float = 1.0) -> CompletionFailed:
    return CompletionFailed(
        user_id=p.user_id,
        conversation_id=p.conversation_id,
        message_id=p.message_id,
        model=p.model,
        code="provider_error",
        message="upstream said no",
        occurred_at=p.occurred_at + timedelta(seconds=after_s),
    )
