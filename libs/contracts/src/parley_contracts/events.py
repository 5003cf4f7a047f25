"""Domain events: published on the `chat.events` topic exchange, routing key = `type`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley_contracts.envelope import Event

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled"]

MAX_TEMPERATURE = 2.0
MAX_TOKENS_LIMIT = 32_768


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ChatMessage(_Value):
    role: Role
    content: str

    @field_validator("content")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL: one such message would stall history's queue.
        if "\x00" in value:
            raise ValueError("must not contain the NUL character")
        return value


class GenerationParams(_Value):
    temperature: float | None = Field(default=None, ge=0.0, le=MAX_TEMPERATURE)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)


UsageSource = Literal["provider", "counted"]


class Usage(_Value):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    source: UsageSource = "provider"
    """`provider`: as the provider reported it. `counted`: the provider reported
    none, so the worker counted the completion tokens from the stream (one per
    chunk with text) and estimated the prompt tokens (about four characters per
    token plus a few per message)."""


class StreamMetrics(_Value):
    ttft_ms: float | None = None
    tokens_per_s: float | None = None


class DomainEvent(Event):
    user_id: str


class PromptSubmitted(DomainEvent):
    """A user asked for an answer. Carries the full message list the model is
    given, since that is what an auditor needs."""

    type: Literal["prompt.submitted"] = "prompt.submitted"
    session_id: UUID
    request_id: str
    conversation_id: UUID
    message_id: UUID
    """The answer's id: every stream frame of this generation names it."""
    prompt_message_id: UUID
    parent_id: UUID | None = None
    model: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams = GenerationParams()
    reply_to: str
    """The session queue that receives the token stream."""
    purpose: Literal["chat", "title"] = "chat"
    project_id: UUID | None = None
    """A new conversation started inside this project of the user's (history files it there)."""


class _Outcome(DomainEvent):
    conversation_id: UUID
    message_id: UUID
    model: str
    worker_id: str | None = None


class CompletionFinished(_Outcome):
    type: Literal["completion.finished"] = "completion.finished"
    text: str
    finish_reason: FinishReason
    usage: Usage
    ttft_ms: float | None = None
    tokens_per_s: float | None = None


class CompletionFailed(_Outcome):
    type: Literal["completion.failed"] = "completion.failed"
    code: str
    message: str


class CompletionCancelled(_Outcome):
    type: Literal["completion.cancelled"] = "completion.cancelled"
    text: str
    """What was generated before the stop."""
    usage: Usage = Usage()


class ConversationRenamed(DomainEvent):
    type: Literal["conversation.renamed"] = "conversation.renamed"
    conversation_id: UUID
    title: str


class ConversationPinned(DomainEvent):
    type: Literal["conversation.pinned"] = "conversation.pinned"
    conversation_id: UUID
    pinned: bool


class BranchSelected(DomainEvent):
    """The user moved to another branch of the conversation's tree (another version of an
    answer, or an edited question): `leaf_id` is the message at the end of the path shown."""

    type: Literal["conversation.branch_selected"] = "conversation.branch_selected"
    conversation_id: UUID
    leaf_id: UUID


class ConversationDeleted(DomainEvent):
    type: Literal["conversation.deleted"] = "conversation.deleted"
    conversation_id: UUID


class UserRegistered(DomainEvent):
    type: Literal["user.registered"] = "user.registered"
    email: str
    display_name: str


class UserAccessChanged(DomainEvent):
    """What an account's access tokens may still do changed: an admin disabled it, enabled it
    again or changed its role; or its owner signed out of a session or changed the password.
    Carries the account's whole access state, not a diff. Services that verify access
    tokens locally apply it at once instead of waiting out the tokens' lifetime (the rules are
    `parley_contracts.access.effective_role`)."""

    type: Literal["user.access_changed"] = "user.access_changed"
    disabled: bool
    role: Literal["user", "admin"]
    tokens_not_before: datetime | None = None
    """Access tokens of this user issued (`iat`) before this instant are refused: the last
    time the account was disabled or its password changed. None: neither happened."""
    sessions_ended: tuple[str, ...] = ()
    """Sessions (the `sid` of access tokens) ended within the last access-token lifetime
    (sign-out, reuse of a refresh token): their access tokens are refused."""
    relevant_until: datetime
    """Every access token issued before this change has expired by then (the change plus one
    access-token lifetime): a verifier may forget the change afterwards."""


class QuotaExceeded(DomainEvent):
    type: Literal["quota.exceeded"] = "quota.exceeded"
    quota: str
    limit: float
    used: float


class QuotaRestored(DomainEvent):
    """A user over quota may prompt again: the budget period rolled over or an
    admin raised the budget. Gateways drop the user from their blocked set."""

    type: Literal["quota.restored"] = "quota.restored"
    quota: str
    limit: float
    used: float
    reason: Literal["period_rolled", "budget_raised"]


# Projects, saved prompts and the model catalogue build on DomainEvent above (hence the late imports).
from parley_contracts.catalog import CatalogUpdated  # noqa: E402
from parley_contracts.library import LIBRARY_EVENTS  # noqa: E402

COMPLETION_EVENTS: tuple[type[DomainEvent], ...] = (CompletionFinished, CompletionFailed, CompletionCancelled)
"""How a generation ended (inference's)."""

CONVERSATION_CHANGES: tuple[type[DomainEvent], ...] = (
    ConversationRenamed,
    ConversationPinned,
    ConversationDeleted,
    BranchSelected,
)
"""A user's changes to a conversation (history's)."""

ACCOUNT_EVENTS: tuple[type[DomainEvent], ...] = (
    UserRegistered,
    UserAccessChanged,
    QuotaExceeded,
    QuotaRestored,
)
"""Accounts, their access and their budgets (auth's)."""

DOMAIN_EVENTS: tuple[type[DomainEvent], ...] = (
    PromptSubmitted,
    *COMPLETION_EVENTS,
    *CONVERSATION_CHANGES,
    *ACCOUNT_EVENTS,
    *LIBRARY_EVENTS,
    CatalogUpdated,
)
