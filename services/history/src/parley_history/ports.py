"""The small interfaces the use cases need; adapters implement them, tests fake them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from parley_contracts import DomainEvent, UserAccessChanged
from parley_history.domain.audit import AuditRecord, ChainReport
from parley_history.domain.conversations import Applied, ConversationView, Cursor, Page, ProjectFilter
from parley_history.domain.library import ProjectView, PromptPage, PromptScope, PromptView
from parley_history.domain.state import (
    ConversationScope,
    ConversationState,
    MessageState,
    ProjectScope,
    ProjectState,
    SavedPromptScope,
    SavedPromptState,
)


class ProjectReader(Protocol):
    async def list_projects(self, user_id: str) -> tuple[ProjectView, ...]: ...

    async def get_project(self, user_id: str, project_id: UUID) -> ProjectView:
        """Raises `ProjectNotFound` unless it is the user's and not deleted."""
        ...


class PromptReader(Protocol):
    async def get_prompt(self, user_id: str, prompt_id: UUID) -> PromptView:
        """Raises `PromptNotFound` unless it is the user's or shared (and not deleted)."""
        ...

    async def count_prompts(self, user_id: str) -> int: ...


class LibraryStore(ProjectReader, PromptReader, Protocol):
    """Reads of projects and saved prompts (their writes are events: `EventApplier.apply`)."""

    async def list_prompts(
        self,
        user_id: str,
        *,
        scope: PromptScope = "all",
        tag: str | None = None,
        query: str | None = None,
        limit: int = 50,
        cursor: Cursor | None = None,
    ) -> PromptPage: ...

    async def prompt_tags(self, user_id: str, *, scope: PromptScope = "all") -> dict[str, int]: ...


class EventApplier(Protocol):
    async def apply(self, event: DomainEvent, body: str) -> Applied:
        """Audit and project `event` in one transaction; a known `event_id` changes nothing."""
        ...


class BatchApplier(Protocol):
    async def apply_batch(self, items: Sequence[tuple[DomainEvent, str]]) -> list[Applied]:
        """`apply` for many events in one transaction, in order."""
        ...


class ConversationStore(EventApplier, Protocol):
    """What a change of one conversation needs: read it as its owner, apply the event."""

    async def get_conversation(self, user_id: str, conversation_id: UUID) -> ConversationView:
        """Raises `ConversationNotFound` unless it is the user's and not deleted."""
        ...


class LibraryChanges(ProjectReader, PromptReader, ConversationStore, Protocol):
    """What the use cases of projects and saved prompts read and apply (a conversation too,
    to move it)."""


class AccessStore(Protocol):
    async def access_change(self, user_id: str) -> UserAccessChanged | None:
        """The account's latest `user.access_changed`, if an admin ever changed its access."""
        ...


class HistoryStore(LibraryStore, LibraryChanges, BatchApplier, AccessStore, Protocol):
    """Everything the routes and the consumer reach through `bootstrap.History.store`."""

    async def set_pinned(self, user_id: str, conversation_id: UUID, pinned: bool) -> None: ...

    async def list_conversations(
        self,
        user_id: str,
        *,
        query: str | None,
        limit: int,
        cursor: Cursor | None,
        project: ProjectFilter = None,
    ) -> Page: ...

    def audit_records(
        self,
        *,
        conversation_id: UUID | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        batch: int = 500,
    ) -> AsyncIterator[AuditRecord]: ...

    async def verify(self, *, require_signed: bool = False) -> ChainReport: ...

    async def ping(self) -> None: ...


class ProjectionStore(Protocol):
    """The rows one event touches, loaded before and saved after the projection rules
    (`projector.project`) change them, inside the caller's transaction; each with the
    versions of its fields."""

    async def load_conversation(self, conversation_id: UUID) -> ConversationState | None: ...

    async def load_messages(self, ids: Collection[UUID]) -> dict[UUID, MessageState]:
        """Those of `ids` that are stored, whatever conversation they are in."""
        ...

    async def latest_chat_time(self, conversation_id: UUID, *, besides: Collection[UUID]) -> datetime | None:
        """The latest `created_at` or `completed_at` of the conversation's chat messages but
        `besides`."""
        ...

    async def load_project(self, project_id: UUID) -> ProjectState | None: ...

    async def load_filed(self, project_id: UUID) -> list[ConversationState]:
        """Every user's conversations in the project."""
        ...

    async def load_saved_prompt(self, prompt_id: UUID) -> SavedPromptState | None: ...

    async def save_conversation(self, scope: ConversationScope) -> None:
        """The conversation and messages of `scope` as they are now (inserted when new); with
        `scope.dropped`, none of the conversation's messages and their versions are left."""
        ...

    async def save_project(self, scope: ProjectScope) -> None:
        """The project and the conversations filed into it, as they are now."""
        ...

    async def save_saved_prompt(self, scope: SavedPromptScope) -> None: ...


class EventPublisher(Protocol):
    async def publish(self, event: DomainEvent) -> None:
        """Publish on `chat.events` (routing key = type), confirmed by the broker."""
        ...
