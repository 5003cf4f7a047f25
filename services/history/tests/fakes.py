"""Fakes that record state (STYLE: assert on results and state, not calls)."""

from __future__ import annotations

from collections.abc import Collection
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from parley_contracts import DomainEvent
from parley_history.domain.state import (
    ConversationScope,
    ConversationState,
    MessageState,
    ProjectScope,
    ProjectState,
    SavedPromptScope,
    SavedPromptState,
)


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
