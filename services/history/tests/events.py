"""Building contract events for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from parley_contracts import (
    ChatMessage,
    CompletionFailed,
    CompletionFinished,
    ConversationMoved,
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    PromptDeleted,
    PromptSaved,
    PromptShared,
    PromptSubmitted,
    Usage,
    new_id,
    utcnow,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""A fixed start for tests that place events in time (`after`)."""


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


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
        **_answer_to(p),
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
        **_answer_to(p),
        code="provider_error",
        message="upstream said no",
        occurred_at=p.occurred_at + timedelta(seconds=after_s),
    )


def _answer_to(p: PromptSubmitted) -> dict[str, Any]:
    """The fields an outcome of `p` copies from it."""
    return {
        "user_id": p.user_id,
        "conversation_id": p.conversation_id,
        "message_id": p.message_id,
        "model": p.model,
    }


def project_created(
    user: str,
    name: str,
    *,
    model: str | None = None,
    project_id: UUID | None = None,
    at: datetime | None = None,
) -> ProjectCreated:
    """A new project, or (`project_id`) a creation naming an existing one."""
    return ProjectCreated(
        user_id=user, project_id=project_id or new_id(), name=name, model=model, occurred_at=at or utcnow()
    )


def project_updated(
    user: str,
    project_id: UUID,
    name: str,
    *,
    system_prompt: str | None = None,
    at: datetime | None = None,
) -> ProjectUpdated:
    return ProjectUpdated(
        user_id=user,
        project_id=project_id,
        name=name,
        system_prompt=system_prompt,
        occurred_at=at or utcnow(),
    )


def project_deleted(user: str, project_id: UUID, *, at: datetime | None = None) -> ProjectDeleted:
    return ProjectDeleted(user_id=user, project_id=project_id, occurred_at=at or utcnow())


def moved(
    user: str, conversation_id: UUID, project_id: UUID | None, *, at: datetime | None = None
) -> ConversationMoved:
    return ConversationMoved(
        user_id=user, conversation_id=conversation_id, project_id=project_id, occurred_at=at or utcnow()
    )


def prompt_saved(
    user: str,
    name: str,
    text: str,
    *,
    tags: tuple[str, ...] = (),
    prompt_id: UUID | None = None,
    at: datetime | None = None,
) -> PromptSaved:
    """A new saved prompt, or (`prompt_id`) an edit of one."""
    return PromptSaved(
        user_id=user,
        prompt_id=prompt_id or new_id(),
        name=name,
        text=text,
        tags=tags,
        occurred_at=at or utcnow(),
    )


def prompt_shared(
    user: str, prompt_id: UUID, *, owner: str, on: bool, at: datetime | None = None
) -> PromptShared:
    return PromptShared(
        user_id=user, prompt_id=prompt_id, owner_id=owner, shared=on, occurred_at=at or utcnow()
    )


def prompt_deleted(user: str, prompt_id: UUID, *, at: datetime | None = None) -> PromptDeleted:
    return PromptDeleted(user_id=user, prompt_id=prompt_id, occurred_at=at or utcnow())
