"""Rows of `orm` (or the same fields of `domain.state`, as the in-memory store keeps them) as the
views the read side returns (`domain.conversations`, `domain.library`)."""

from __future__ import annotations

from parley_history.adapters.orm import Conversation, Message, Project, SavedPrompt
from parley_history.domain.conversations import UNTITLED, ConversationSummary, MessageView
from parley_history.domain.library import ProjectView, PromptView, decode_tags
from parley_history.domain.state import ConversationState, MessageState, ProjectState, SavedPromptState


def summary_view(row: Conversation | ConversationState) -> ConversationSummary:
    return ConversationSummary(
        id=row.id,
        title=row.title or row.fallback_title or UNTITLED,
        pinned=row.pinned,
        model=row.model,
        created_at=row.created_at,
        updated_at=row.updated_at,
        project_id=row.project_id,
    )


def message_view(row: Message | MessageState) -> MessageView:
    return MessageView(
        id=row.id,
        parent_id=row.parent_id,
        role=row.role,
        content=row.content,
        status=row.status,
        created_at=row.created_at,
        model=row.model,
        finish_reason=row.finish_reason,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        ttft_ms=row.ttft_ms,
        tokens_per_s=row.tokens_per_s,
        error_code=row.error_code,
        error_message=row.error_message,
    )


def project_view(row: Project | ProjectState, conversations: int) -> ProjectView:
    return ProjectView(
        id=row.id,
        name=row.name,
        system_prompt=row.system_prompt,
        model=row.model,
        conversation_count=conversations,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def prompt_view(row: SavedPrompt | SavedPromptState) -> PromptView:
    return PromptView(
        id=row.id,
        owner_id=row.user_id,
        name=row.name,
        text=row.text,
        tags=decode_tags(row.tags),
        shared=row.shared,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
