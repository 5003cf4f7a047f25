"""Events -> conversations and messages, inside the caller's transaction.

Every change is derived from event content only (never the clock), and the rows
do not depend on the order the events arrive in (redeliveries, competing
consumers, replay from the stream), only on the set of events:

- a field that several events set goes to the latest by `(occurred_at,
  event_id)` (`versions`): the title (renames), pinned, the project (moves),
  the branch shown (prompts and branch selections), the model and system
  prompt (prompts), an answer's outcome; the first-prompt title and filing go
  to the earliest prompt;
- `created_at` is the earliest event's time, `updated_at` the latest of its
  messages' times (prompts and answers);
- an event may come before the one that creates its row: the row is created
  then (an outcome before its prompt, a rename before the first prompt) and
  completed when the rest arrives;
- a delete is final: the conversation is reduced to a tombstone (id, owner,
  times), its messages go, and every later-arriving event about it changes
  nothing, whenever it happened.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import delete, func, select
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
    UserAccessChanged,
)
from parley_history.adapters import versions
from parley_history.adapters.access_projection import project_access
from parley_history.adapters.library_projection import project_library, resolve_project
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
    elif isinstance(event, UserAccessChanged):
        await project_access(session, event)
    return None


async def _conversation(
    session: AsyncSession, event: DomainEvent, conversation_id: uuid.UUID
) -> Conversation | None:
    """The live conversation this event may change: created when new; None when it
    belongs to another user or was deleted."""
    at = event.occurred_at
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        conversation = Conversation(
            id=conversation_id, user_id=event.user_id, pinned=False, created_at=at, updated_at=at
        )
        session.add(conversation)
        return conversation
    if conversation.user_id != event.user_id:
        log.warning(
            "ignoring an event of user %r for conversation %s, which belongs to another user",
            event.user_id,
            conversation_id,
        )
        return None
    conversation.created_at = min(conversation.created_at, at)
    return None if conversation.deleted_at is not None else conversation


async def _touch(session: AsyncSession, conversation: Conversation) -> None:
    """`updated_at`: the latest prompt or answer, read from the conversation's messages (so a
    function of the rows, whatever order their events came in)."""
    created, completed = (
        await session.execute(
            select(func.max(Message.created_at), func.max(Message.completed_at)).where(
                Message.conversation_id == conversation.id, Message.purpose == "chat"
            )
        )
    ).one()
    times = [at for at in (created, completed) if at is not None]
    if times:
        conversation.updated_at = max(times)


async def _prompt(session: AsyncSession, event: PromptSubmitted) -> TitleRequest | None:
    conversation = await _conversation(session, event, event.conversation_id)
    if conversation is None:
        return None
    answer = await session.get(Message, event.message_id)
    if event.purpose == "title":
        if answer is None:
            session.add(_pending(event, purpose="title", parent_id=None))
        else:
            answer.purpose, answer.model, answer.created_at = "title", event.model, event.occurred_at
            if answer.status == "finished":
                _model_title(conversation, answer.content)
        return None
    prompt = next((m.content for m in reversed(event.messages) if m.role == "user"), "")
    asked = await session.get(Message, event.prompt_message_id)
    answer_parent: uuid.UUID | None = event.prompt_message_id
    if asked is not None and (asked.conversation_id != event.conversation_id or asked.role != "user"):
        # A regenerate naming a message outside this conversation: never link to it.
        answer_parent = event.parent_id
    elif asked is not None:  # a regenerate (or the original, after its regenerate)
        asked.created_at = min(asked.created_at, event.occurred_at)
    else:
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
    await _conversation_settings(session, conversation, event, prompt)
    if answer is None:
        session.add(_pending(event, purpose="chat", parent_id=answer_parent))
        await _touch(session, conversation)
        return None
    # The outcome came first: attach it to its prompt now.
    answer.purpose, answer.parent_id, answer.model = "chat", answer_parent, event.model
    answer.created_at = event.occurred_at
    await _touch(session, conversation)
    return _title_request(conversation, answer, prompt)


async def _conversation_settings(
    session: AsyncSession, conversation: Conversation, event: PromptSubmitted, prompt: str
) -> None:
    """What a chat prompt sets on its conversation, each only if no later (or, for the first
    prompt's, no earlier) event already did."""
    if await versions.earliest(session, conversation.id, "first_prompt", event):
        conversation.fallback_title = fallback_title(prompt)
        if await versions.recorded(session, conversation.id, "project") is None:
            # Not moved yet: a chat started inside a project is filed there.
            _, conversation.project_id = await resolve_project(session, event.user_id, event.project_id)
    if await versions.latest(session, conversation.id, "model", event):
        conversation.model = event.model
    system = next((m.content for m in event.messages if m.role == "system"), None)
    if system is not None and await versions.latest(session, conversation.id, "system_prompt", event):
        conversation.system_prompt = system
    if await versions.latest(session, conversation.id, "leaf", event):
        conversation.current_leaf_id = event.message_id


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
    conversation = await _conversation(session, event, event.conversation_id)
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
    if not await _outcome_wins(session, message, event):
        return None
    _set_outcome(message, event)
    if message.purpose == "title":
        if message.status == "finished":
            _model_title(conversation, message.content)
        return None
    if message.purpose != "chat":
        return None
    await _touch(session, conversation)
    prompt = await session.get(Message, message.parent_id) if message.parent_id is not None else None
    return _title_request(conversation, message, prompt.content if prompt is not None else "")


async def _outcome_wins(session: AsyncSession, message: Message, event: Outcome) -> bool:
    """Whether `event` decides the answer's outcome, when a request was answered twice (its
    worker died, or lost the confirm of its outcome, after publishing, before its ack): an
    answer that finished stays finished, as its user saw it (a retry that failed or was
    stopped does not take it back); of two finished, the first stays (the gateway forwards
    one `done` per message, the first; auth bills that one too); else the latest wins."""
    finished = isinstance(event, CompletionFinished)
    if message.status == "finished" and not finished:
        return False
    if finished and message.status != "finished":
        await versions.record(session, message.id, "outcome", event)
        return True
    if finished:
        return await versions.earliest(session, message.id, "outcome", event)
    return await versions.latest(session, message.id, "outcome", event)


def _set_outcome(message: Message, event: Outcome) -> None:
    """Every outcome field from this one event (an earlier outcome leaves nothing behind)."""
    message.model, message.worker_id, message.completed_at = event.model, event.worker_id, event.occurred_at
    message.finish_reason = message.error_code = message.error_message = None
    message.prompt_tokens = message.completion_tokens = None
    message.ttft_ms = message.tokens_per_s = None
    if isinstance(event, CompletionFailed):
        message.status, message.content = "failed", ""
        message.error_code, message.error_message = event.code, event.message
        return
    message.prompt_tokens = event.usage.prompt_tokens
    message.completion_tokens = event.usage.completion_tokens
    if isinstance(event, CompletionFinished):
        message.status, message.content, message.finish_reason = "finished", event.text, event.finish_reason
        message.ttft_ms, message.tokens_per_s = event.ttft_ms, event.tokens_per_s
    else:
        message.status, message.content, message.finish_reason = "cancelled", event.text, "cancelled"


def _title_request(conversation: Conversation, answer: Message, prompt: str) -> TitleRequest | None:
    """Ask for a title once, after the first finished answer of an untitled conversation.
    `title_message_id` marks the first finished answer whether or not a title is asked
    for then (a rename or a title may have come first), so that it does not depend on
    the order of arrival."""
    if answer.status != "finished" or conversation.title_message_id is not None or not answer.content.strip():
        return None
    conversation.title_message_id = title_message_id(conversation.id)
    if conversation.title_source is not None:
        return None
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
    conversation = await _conversation(session, event, event.conversation_id)
    if conversation is not None and await versions.latest(session, conversation.id, "title", event):
        conversation.title, conversation.title_source = event.title, "user"


async def _pinned(session: AsyncSession, event: ConversationPinned) -> None:
    conversation = await _conversation(session, event, event.conversation_id)
    if conversation is not None and await versions.latest(session, conversation.id, "pinned", event):
        conversation.pinned = event.pinned


async def _branch_selected(session: AsyncSession, event: BranchSelected) -> None:
    conversation = await _conversation(session, event, event.conversation_id)
    if conversation is None:
        return
    leaf = await session.get(Message, event.leaf_id)
    if leaf is not None and leaf.conversation_id != conversation.id:
        log.warning("ignoring a branch selection of message %s of another conversation", event.leaf_id)
        return
    # An unknown leaf is kept: its prompt may still be on its way (the route checked it).
    if await versions.latest(session, conversation.id, "leaf", event):
        conversation.current_leaf_id = event.leaf_id


async def _deleted(session: AsyncSession, event: ConversationDeleted) -> None:
    conversation = await session.get(Conversation, event.conversation_id)
    if conversation is not None and conversation.deleted_at is not None:
        if conversation.user_id == event.user_id:  # deleted twice (two tabs): the first one counts
            conversation.created_at = min(conversation.created_at, event.occurred_at)
            conversation.deleted_at = conversation.updated_at = min(
                conversation.deleted_at, event.occurred_at
            )
        return
    conversation = await _conversation(session, event, event.conversation_id)
    if conversation is None:
        return
    # A tombstone: the conversation's id, owner and times only (so late events for it
    # change nothing, and it ends the same whichever came first); its messages go.
    # The audit log keeps the events.
    conversation.title = conversation.title_source = conversation.fallback_title = None
    conversation.title_message_id = conversation.system_prompt = conversation.model = None
    conversation.current_leaf_id = conversation.project_id = None
    conversation.pinned = False
    conversation.deleted_at = conversation.updated_at = event.occurred_at
    messages = list(
        await session.scalars(select(Message.id).where(Message.conversation_id == conversation.id))
    )
    await versions.forget(session, [conversation.id, *messages])
    await session.execute(delete(Message).where(Message.conversation_id == event.conversation_id))


async def _moved(session: AsyncSession, event: ConversationMoved) -> None:
    conversation = await _conversation(session, event, event.conversation_id)
    if conversation is None:
        return
    allowed, target = await resolve_project(session, event.user_id, event.project_id)
    if allowed and await versions.latest(session, conversation.id, "project", event):
        # A move into a project deleted meanwhile leaves the conversation in none, as
        # the delete would have had it come second: the same rows in either order.
        conversation.project_id = target
