"""Fakes that record state (STYLE: assert on results and state, not calls)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from parley_contracts import DomainEvent
from parley_history.adapters.views import message_view, project_view, prompt_view, summary_view
from parley_history.domain.conversations import (
    Applied,
    ConversationView,
    with_children,
)
from parley_history.domain.errors import ConversationNotFound, ProjectNotFound, PromptNotFound
from parley_history.domain.library import ProjectView, PromptView
from parley_history.domain.state import (
    ConversationScope,
    ConversationState,
    MessageState,
    ProjectScope,
    ProjectState,
    SavedPromptScope,
    SavedPromptState,
)
from parley_history.projector import project


class FakePublisher:
    """`EventPublisher` that keeps what was published; `down` makes it fail."""

    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.down = False

    async def publish(self, event: DomainEvent) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.published.append(event)


@dataclass(frozen=True)
class Rows:
    """Everything a `FakeProjectionStore` holds, to compare two of them."""

    conversations: dict[UUID, ConversationState]
    messages: dict[UUID, MessageState]
    projects: dict[UUID, ProjectState]
    saved_prompts: dict[UUID, SavedPromptState]


class FakeProjectionStore:
    """`ProjectionStore` in memory: the rows are its dicts, and copies go in and out of
    them (as with a database, what a projection holds changes nothing until saved)."""

    def __init__(self) -> None:
        self.conversations: dict[UUID, ConversationState] = {}
        self.messages: dict[UUID, MessageState] = {}
        self.projects: dict[UUID, ProjectState] = {}
        self.saved_prompts: dict[UUID, SavedPromptState] = {}

    def rows(self) -> Rows:
        return deepcopy(Rows(self.conversations, self.messages, self.projects, self.saved_prompts))

    async def load_conversation(self, conversation_id: UUID) -> ConversationState | None:
        return deepcopy(self.conversations.get(conversation_id))

    async def load_messages(self, ids: Collection[UUID]) -> dict[UUID, MessageState]:
        return {id_: deepcopy(self.messages[id_]) for id_ in ids if id_ in self.messages}

    async def latest_chat_time(self, conversation_id: UUID, *, besides: Collection[UUID]) -> datetime | None:
        times = [
            at
            for message in self.messages.values()
            if message.conversation_id == conversation_id
            and message.purpose == "chat"
            and message.id not in besides
            for at in (message.created_at, message.completed_at)
            if at is not None
        ]
        return max(times, default=None)

    async def load_project(self, project_id: UUID) -> ProjectState | None:
        return deepcopy(self.projects.get(project_id))

    async def load_filed(self, project_id: UUID) -> list[ConversationState]:
        return [deepcopy(c) for c in self.conversations.values() if c.project_id == project_id]

    async def load_saved_prompt(self, prompt_id: UUID) -> SavedPromptState | None:
        return deepcopy(self.saved_prompts.get(prompt_id))

    async def save_conversation(self, scope: ConversationScope) -> None:
        if scope.conversation is not None:
            self.conversations[scope.conversation.id] = deepcopy(scope.conversation)
        for message in scope.messages.values():
            self.messages[message.id] = deepcopy(message)
        if scope.dropped:
            self.messages = {k: m for k, m in self.messages.items() if m.conversation_id != scope.id}

    async def save_project(self, scope: ProjectScope) -> None:
        if scope.project is not None:
            self.projects[scope.project.id] = deepcopy(scope.project)
        for conversation in scope.filed:
            self.conversations[conversation.id] = deepcopy(conversation)

    async def save_saved_prompt(self, scope: SavedPromptScope) -> None:
        if scope.prompt is not None:
            self.saved_prompts[scope.prompt.id] = deepcopy(scope.prompt)


class FakeStore:
    """The use cases' store in memory (`ports.LibraryChanges`, `ports.BatchApplier`): `apply`
    runs the real projection rules on a `FakeProjectionStore` (`rows`) and keeps the events it
    took in `applied`; the reads hide what `SqlHistoryStore` hides from a user."""

    def __init__(self) -> None:
        self.rows = FakeProjectionStore()
        self.applied: list[DomainEvent] = []

    async def apply(self, event: DomainEvent, body: str) -> Applied:
        if any(seen.event_id == event.event_id for seen in self.applied):
            return Applied(duplicate=True)
        self.applied.append(event)
        return Applied(duplicate=False, title_request=await project(self.rows, event))

    async def apply_batch(self, items: Sequence[tuple[DomainEvent, str]]) -> list[Applied]:
        return [await self.apply(event, body) for event, body in items]

    async def get_conversation(self, user_id: str, conversation_id: UUID) -> ConversationView:
        row = self._conversation(user_id, conversation_id)
        if row is None:
            raise ConversationNotFound(str(conversation_id))
        chat = [m for m in self.rows.messages.values() if m.conversation_id == row.id and m.purpose == "chat"]
        chat.sort(key=lambda m: (m.created_at, m.role != "user", m.id))
        return ConversationView(
            summary=summary_view(row),
            system_prompt=row.system_prompt,
            current_leaf_id=row.current_leaf_id,
            messages=with_children([message_view(m) for m in chat]),
        )

    async def list_projects(self, user_id: str) -> tuple[ProjectView, ...]:
        rows = [p for p in self.rows.projects.values() if p.user_id == user_id and p.deleted_at is None]
        rows.sort(key=lambda p: (p.name.lower(), p.name, p.id))
        return tuple(self._project(row) for row in rows)

    async def get_project(self, user_id: str, project_id: UUID) -> ProjectView:
        row = self.rows.projects.get(project_id)
        if row is None or row.user_id != user_id or row.deleted_at is not None:
            raise ProjectNotFound(str(project_id))
        return self._project(row)

    async def get_prompt(self, user_id: str, prompt_id: UUID) -> PromptView:
        row = self.rows.saved_prompts.get(prompt_id)
        if row is None or row.deleted_at is not None or (row.user_id != user_id and not row.shared):
            raise PromptNotFound(str(prompt_id))
        return prompt_view(row)

    async def count_prompts(self, user_id: str) -> int:
        return sum(p.user_id == user_id and p.deleted_at is None for p in self.rows.saved_prompts.values())

    def _conversation(self, user_id: str, conversation_id: UUID) -> ConversationState | None:
        row = self.rows.conversations.get(conversation_id)
        if row is None or row.user_id != user_id or row.deleted_at is not None or row.fallback_title is None:
            return None
        return row

    def _project(self, row: ProjectState) -> ProjectView:
        filed = [c for c in self.rows.conversations.values() if c.project_id == row.id]
        return project_view(row, sum(self._conversation(row.user_id, c.id) is not None for c in filed))
