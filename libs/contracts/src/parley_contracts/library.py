"""Domain events of a user's library: projects (named groups of conversations)
and saved system prompts. Published on `chat.events` by history's REST API
(history owns both) and applied by its consumer, so replay rebuilds them.

Routing keys (= `type`): `project.*` and `library.prompt.*` (bound to
`history.events`), and `conversation.moved` (under `conversation.*`). Saved
prompts live under `library.` so that they never share a namespace with the
chat's `prompt.submitted`.

Each event carries the full new state of what it changes (not a diff), so
applying it twice, or once more on replay, gives the same rows.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from parley_contracts.events import DomainEvent


class ProjectSettings(DomainEvent):
    """A project's full settings, as its creation and each update carry them."""

    project_id: UUID
    name: str
    system_prompt: str | None = None
    """Default system prompt of new chats started in this project."""
    model: str | None = None
    """Default model of new chats started in this project."""


class ProjectCreated(ProjectSettings):
    """A user created a project; `user_id` owns it."""

    type: Literal["project.created"] = "project.created"


class ProjectUpdated(ProjectSettings):
    """A project's owner renamed it or changed its defaults: the project's full
    settings after the change."""

    type: Literal["project.updated"] = "project.updated"


class ProjectDeleted(DomainEvent):
    """A project is gone; its conversations are kept, in no project."""

    type: Literal["project.deleted"] = "project.deleted"
    project_id: UUID


class ConversationMoved(DomainEvent):
    """A conversation moved into a project (`project_id`) or out of any (`None`)."""

    type: Literal["conversation.moved"] = "conversation.moved"
    conversation_id: UUID
    project_id: UUID | None


class PromptSaved(DomainEvent):
    """A saved system prompt was created or edited by its owner (`user_id`): its full content."""

    type: Literal["library.prompt.saved"] = "library.prompt.saved"
    prompt_id: UUID
    name: str
    text: str
    tags: tuple[str, ...] = ()


class PromptShared(DomainEvent):
    """A saved prompt became visible to every user (`shared`) or private again.
    `user_id` is who did it: the owner, or an admin unsharing."""

    type: Literal["library.prompt.shared"] = "library.prompt.shared"
    prompt_id: UUID
    owner_id: str
    shared: bool


class PromptDeleted(DomainEvent):
    """The owner deleted a saved prompt."""

    type: Literal["library.prompt.deleted"] = "library.prompt.deleted"
    prompt_id: UUID


LIBRARY_EVENTS: tuple[type[DomainEvent], ...] = (
    ProjectCreated,
    ProjectUpdated,
    ProjectDeleted,
    ConversationMoved,
    PromptSaved,
    PromptShared,
    PromptDeleted,
)
