"""Answers and titles: which of several outcomes of one answer counts, what it sets on
the message, and when a conversation asks for (or takes) a title. Used by
`domain.projection`."""

from __future__ import annotations

import uuid

from parley_contracts import CompletionCancelled, CompletionFailed, CompletionFinished
from parley_history.domain.conversations import TitleRequest, clean_title
from parley_history.domain.state import ConversationState, MessageState

_TITLE_NAMESPACE = uuid.UUID("9a1d2c44-3f0e-4b8e-9a51-6f7c2b1d0e11")

Outcome = CompletionFinished | CompletionFailed | CompletionCancelled


def title_message_id(conversation_id: uuid.UUID) -> uuid.UUID:
    """The message id of a conversation's title request: deterministic, so a replay agrees."""
    return uuid.uuid5(_TITLE_NAMESPACE, f"title:{conversation_id}")


def outcome_wins(message: MessageState, event: Outcome) -> bool:
    """Whether `event` decides the answer's outcome, when a request was answered twice (its
    worker died, or lost the confirm of its outcome, after publishing, before its ack): an
    answer that finished stays finished, as its user saw it (a retry that failed or was
    stopped does not take it back); of two finished, the first stays (the gateway forwards
    one `done` per message, the first; auth bills that one too); else the latest wins."""
    finished = isinstance(event, CompletionFinished)
    if message.status == "finished" and not finished:
        return False
    if finished and message.status != "finished":
        message.versions.record("outcome", event)
        return True
    if finished:
        return message.versions.earliest("outcome", event)
    return message.versions.latest("outcome", event)


def set_outcome(message: MessageState, event: Outcome) -> None:
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


def title_request(conversation: ConversationState, answer: MessageState, prompt: str) -> TitleRequest | None:
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


def model_title(conversation: ConversationState, text: str) -> None:
    title = clean_title(text)
    if title is not None and conversation.title_source != "user":
        conversation.title, conversation.title_source = title, "model"
