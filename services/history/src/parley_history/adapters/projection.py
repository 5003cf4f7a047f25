"""Events -> conversations and messages, inside the caller's transaction.

Every change is derived from event content only (never the clock), so that a
replay of the same events in the same order reproduces the same rows.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from parley_contracts import (
    BranchSelected,
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    ConversationDeleted,
    ConversationMoved,
    ConversationPinned,
    ConversationRenamed,
    DomainEvent,
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    PromptDeleted,
    PromptSaved,
    PromptShared,
    PromptSubmitted,
)
from parley_history.adapters.library_projection import owned_project, project_library
from parley_history.adapters.orm import Conversation, Message
from parley_history.domain.conversations import TitleRequest, clean_title, fallback_title

log = logging.getLogger(__name__)

_TITLE_NAMESPACE = uuid.UUID("9a1d2c44-3f0e-4b8e-9a51-6f7c2b1d0e11")

Outcome = CompletionFinished | CompletionFailed | CompletionCancelled


def title_message_id(conversation_id: uuid.UUID) -> uuid.UUID:
    """The message id of a conversation's title request: deterministic, so a replay agrees."""
    return uuid.uuid5(_TITLE_NAMESPACE, f"title:{conversation_id}")


async def project(session: AsyncSession, event: DomainEvent) -> TitleRequest | None:
    if isinstance(event, PromptSubmitted):
        return await _prompt(session, event)
    if isinstance(event, CompletionFinished | CompletionFailed | CompletionCancelled):
        return await _outcome(session, event)
    if isinstance(event, ConversationRenamed):
        await _renamed(session, event)
    elif isinstance(event, ConversationPinned):
        await _pinned(session, event)
    elif isinstance(event, ConversationDeleted):
        await _deleted(session, event)
    elif isinstance(event, ConversationMoved):
        await _moved(session, event)
    elif isinstance(event, BranchSelected):
        await _branch_selected(session, event)
    elif isinstance(
        event, ProjectCreated | ProjectUpdated | ProjectDeleted | PromptSaved | PromptShared | PromptDeleted
    ):
        await project_library(session, event)
    return None


async def _conversation(
    session: AsyncSession, user_id: str, conversation_id: uuid.UUID, at: datetime
) -> Conversation | None:
    """The live conversation this event may change: created when new; None when it
    belongs to another user or was deleted."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        conversation = Conversation(
            id=conversation_id, user_id=user_id, pinned=False, created_at=at, updated_at=at
        )
        session.add(conversation)
        return conversation
    if conversation.user_id != user_id:
        log.warning(
            "ignoring an event of user %r for conversation %s, which belongs to another user",
            user_id,
            conversation_id,
        )
        return None
    return None if conversation.deleted_at is not None else conversation


async def _file_in_project(session: AsyncSession, conversation: Conversation, event: PromptSubmitted) -> None:
    """A conversation started inside a project (of its user's, not deleted) is filed there."""
    if event.project_id is None or conversation.project_id is not None:
        return
    project = await owned_project(session, event.user_id, event.project_id)
    if project is not None and project.deleted_at is None:
        conversation.project_id = project.id


def _touch(conversation: Conversation, at: datetime) -> None:
    conversation.updated_at = max(conversation.updated_at, at)


async def _prompt(session: AsyncSession, event: PromptSubmitted) -> TitleRequest | None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    if conversation is None:
        return None
    answer = await session.get(Message, event.message_id)
    if event.purpose == "title":
        if answer is None:
            session.add(_pending(event, purpose="title", parent_id=None))
        else:
            answer.purpose = "title"
            if answer.status == "finished":
                _model_title(conversation, answer.content)
        return None
    prompt = next((m.content for m in reversed(event.messages) if m.role == "user"), "")
    asked = await session.get(Message, event.prompt_message_id)
    answer_parent: uuid.UUID | None = event.prompt_message_id
    if asked is not None and (asked.conversation_id != event.conversation_id or asked.role != "user"):
        # A regenerate naming a message outside this conversation: never link to it.
        answer_parent = event.parent_id
    elif asked is None:
        session.add(
            Message(
                id=event.prompt_message_id,
                conversation_id=event.conversation_id,
                parent_id=event.parent_id,
                role="user",
                purpose="chat",
                status="finished",
                content=prompt,
                created_at=event.occurred_at,
            )
        )
    system = next((m.content for m in event.messages if m.role == "system"), None)
    if system is not None:
        conversation.system_prompt = system
    if conversation.fallback_title is None:  # the conversation's first prompt
        conversation.fallback_title = fallback_title(prompt)
        await _file_in_project(session, conversation, event)
    conversation.model = event.model
    conversation.current_leaf_id = event.message_id
    _touch(conversation, event.occurred_at)
    if answer is None:
        session.add(_pending(event, purpose="chat", parent_id=answer_parent))
        return None
    # The outcome came first: attach it to its prompt now.
    answer.purpose, answer.parent_id, answer.model = "chat", answer_parent, event.model
    answer.created_at = event.occurred_at
    if answer.completed_at is not None:
        _touch(conversation, answer.completed_at)
    return _title_request(conversation, answer, prompt)


def _pending(event: PromptSubmitted, *, purpose: str, parent_id: uuid.UUID | None) -> Message:
    return Message(
        id=event.message_id,
        conversation_id=event.conversation_id,
        parent_id=parent_id,
        role="assistant",
        purpose=purpose,
        status="pending",
        content="",
        model=event.model,
        created_at=event.occurred_at,
    )


async def _outcome(session: AsyncSession, event: Outcome) -> TitleRequest | None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    if conversation is None:
        return None
    message = await session.get(Message, event.message_id)
    if message is None:
        # Its prompt has not arrived yet: keep the outcome; the prompt attaches it.
        message = Message(
            id=event.message_id,
            conversation_id=event.conversation_id,
            role="assistant",
            status="pending",
            content="",
            model=event.model,
            created_at=event.occurred_at,
        )
        session.add(message)
    elif message.conversation_id != event.conversation_id:
        log.warning("ignoring %s for message %s of another conversation", event.type, event.message_id)
        return None
    message.model = event.model
    message.worker_id = event.worker_id
    message.completed_at = event.occurred_at
    if isinstance(event, CompletionFinished):
        message.status, message.content, message.finish_reason = "finished", event.text, event.finish_reason
        message.prompt_tokens = event.usage.prompt_tokens
        message.completion_tokens = event.usage.completion_tokens
        message.ttft_ms, message.tokens_per_s = event.ttft_ms, event.tokens_per_s
    elif isinstance(event, CompletionCancelled):
        message.status, message.content, message.finish_reason = "cancelled", event.text, "cancelled"
        message.prompt_tokens = event.usage.prompt_tokens
        message.completion_tokens = event.usage.completion_tokens
    else:
        message.status, message.error_code, message.error_message = "failed", event.code, event.message
    if message.purpose == "title":
        if message.status == "finished":
            _model_title(conversation, message.content)
        return None
    if message.purpose != "chat":
        return None
    _touch(conversation, event.occurred_at)
    prompt = await session.get(Message, message.parent_id) if message.parent_id is not None else None
    return _title_request(conversation, message, prompt.content if prompt is not None else "")


def _title_request(conversation: Conversation, answer: Message, prompt: str) -> TitleRequest | None:
    """Ask for a title once, after the first finished answer of an untitled conversation."""
    if (
        answer.status != "finished"
        or conversation.title_source is not None
        or conversation.title_message_id is not None
        or not answer.content.strip()
    ):
        return None
    conversation.title_message_id = title_message_id(conversation.id)
    return TitleRequest(
        conversation_id=conversation.id,
        user_id=conversation.user_id,
        model=answer.model or conversation.model or "",
        message_id=conversation.title_message_id,
        prompt=prompt,
        answer=answer.content,
    )


def _model_title(conversation: Conversation, text: str) -> None:
    title = clean_title(text)
    if title is not None and conversation.title_source != "user":
        conversation.title, conversation.title_source = title, "model"


async def _renamed(session: AsyncSession, event: ConversationRenamed) -> None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    if conversation is not None:
        conversation.title, conversation.title_source = event.title, "user"


async def _pinned(session: AsyncSession, event: ConversationPinned) -> None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    if conversation is not None:
        conversation.pinned = event.pinned


async def _branch_selected(session: AsyncSession, event: BranchSelected) -> None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    leaf = await session.get(Message, event.leaf_id)
    if conversation is not None and leaf is not None and leaf.conversation_id == conversation.id:
        conversation.current_leaf_id = leaf.id


async def _deleted(session: AsyncSession, event: ConversationDeleted) -> None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    if conversation is None:
        return
    # The conversation stays as a tombstone (so late events for it change
    # nothing); its messages go. The audit log keeps the events.
    conversation.deleted_at = event.occurred_at
    conversation.current_leaf_id = None
    await session.execute(delete(Message).where(Message.conversation_id == event.conversation_id))


async def _moved(session: AsyncSession, event: ConversationMoved) -> None:
    conversation = await _conversation(session, event.user_id, event.conversation_id, event.occurred_at)
    if conversation is None:
        return
    if event.project_id is None:
        conversation.project_id = None
        return
    project = await owned_project(session, event.user_id, event.project_id)
    if project is None:
        return
    # A move into a project deleted meanwhile leaves the conversation in none, as
    # the delete would have had it come second: the same rows in either order.
    conversation.project_id = None if project.deleted_at is not None else project.id
