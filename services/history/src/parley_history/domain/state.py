"""The projected rows as plain data: what the projection rules read and change
(`domain.projection`, `domain.library_projection`), loaded and saved through
`ports.ProjectionStore`, and the scopes that group what one event touches. Each row
carries the versions of its order-sensitive fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from parley_history.domain.versions import FieldVersions


@dataclass
class ConversationState:
    id: UUID
    user_id: str
    created_at: datetime
    updated_at: datetime
    title: str | None = None
    title_source: str | None = None
    """None (no title yet), "model" or "user"; a user's rename wins over the model's title."""
    fallback_title: str | None = None
    """The first words of the first prompt; None until a prompt was seen."""
    title_message_id: UUID | None = None
    system_prompt: str | None = None
    model: str | None = None
    pinned: bool = False
    current_leaf_id: UUID | None = None
    deleted_at: datetime | None = None
    project_id: UUID | None = None
    versions: FieldVersions = field(default_factory=FieldVersions)


@dataclass
class MessageState:
    id: UUID
    conversation_id: UUID
    role: str
    status: str
    """pending, finished, failed, cancelled."""
    created_at: datetime
    content: str = ""
    parent_id: UUID | None = None
    purpose: str | None = None
    """"chat", "title", or None while only the outcome (not the prompt) was seen."""
    model: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    worker_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    completed_at: datetime | None = None
    versions: FieldVersions = field(default_factory=FieldVersions)


@dataclass
class ProjectState:
    id: UUID
    user_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    system_prompt: str | None = None
    model: str | None = None
    deleted_at: datetime | None = None
    versions: FieldVersions = field(default_factory=FieldVersions)


@dataclass
class SavedPromptState:
    id: UUID
    user_id: str
    created_at: datetime
    updated_at: datetime
    name: str = ""
    text: str = ""
    tags: str = ""
    """As stored: `domain.library.encode_tags`."""
    shared: bool = False
    deleted_at: datetime | None = None
    versions: FieldVersions = field(default_factory=FieldVersions)


@dataclass
class ConversationScope:
    """What one event touches of a conversation, as stored before it."""

    id: UUID
    conversation: ConversationState | None
    """None until stored: the event creates it."""
    messages: dict[UUID, MessageState] = field(default_factory=dict)
    """The stored messages the event names (`domain.projection.named_messages`; an outcome's
    prompt too), by id, whatever conversation they are in; the event adds those it creates."""
    project: ProjectState | None = None
    """The stored project the event names, if any."""
    latest_other: datetime | None = None
    """The latest time of the conversation's other chat messages (those not in `messages`)."""
    dropped: bool = False
    """The conversation became a tombstone: all its messages go."""
    warnings: list[str] = field(default_factory=list)
    """Why the event changed less than it says (it names another user's or conversation's row)."""

    def add(self, message: MessageState) -> MessageState:
        self.messages[message.id] = message
        return message


@dataclass
class ProjectScope:
    """What a project event touches: the project (None until stored) and, when it is new
    or deleted, the conversations filed into it (any user's)."""

    id: UUID
    project: ProjectState | None
    filed: list[ConversationState] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Why the event changed less than it says (it names another user's project)."""


@dataclass
class SavedPromptScope:
    id: UUID
    prompt: SavedPromptState | None
    warnings: list[str] = field(default_factory=list)
