"""Project one event: load the rows it touches through a `ProjectionStore`, apply the
projection rules to them (`domain.projection`, `domain.library_projection`), save them
back. The store runs it inside the transaction that audits the event."""

from __future__ import annotations

import logging

from parley_contracts import DomainEvent, ProjectDeleted, PromptSubmitted
from parley_history.domain.answers import Outcome
from parley_history.domain.conversations import TitleRequest
from parley_history.domain.library_projection import (
    ProjectEvent,
    SavedPromptEvent,
    apply_project_event,
    apply_saved_prompt_event,
)
from parley_history.domain.projection import (
    ConversationEvent,
    apply_conversation_event,
    named_messages,
    named_project,
)
from parley_history.domain.state import ConversationScope, ProjectScope, SavedPromptScope
from parley_history.ports import ProjectionStore

log = logging.getLogger(__name__)


async def project(store: ProjectionStore, event: DomainEvent) -> TitleRequest | None:
    """Apply `event` to the projection; the title request it calls for, if any. Events of
    other kinds change nothing here."""
    if isinstance(event, ConversationEvent):
        return await _conversation_event(store, event)
    if isinstance(event, ProjectEvent):
        await _project_event(store, event)
    elif isinstance(event, SavedPromptEvent):
        await _saved_prompt_event(store, event)
    return None


async def _conversation_event(store: ProjectionStore, event: ConversationEvent) -> TitleRequest | None:
    scope = ConversationScope(
        id=event.conversation_id, conversation=await store.load_conversation(event.conversation_id)
    )
    scope.messages = await store.load_messages(named_messages(event))
    if isinstance(event, Outcome):
        answer = scope.messages.get(event.message_id)
        if answer is not None and answer.parent_id is not None:  # its prompt, for a title request
            scope.messages |= await store.load_messages([answer.parent_id])
    if isinstance(event, PromptSubmitted | Outcome):
        scope.latest_other = await store.latest_chat_time(scope.id, besides=set(scope.messages))
    project_id = named_project(event)
    if project_id is not None:
        scope.project = await store.load_project(project_id)
    title = apply_conversation_event(scope, event)
    _warn(scope.warnings)
    await store.save_conversation(scope)
    return title


async def _project_event(store: ProjectionStore, event: ProjectEvent) -> None:
    scope = ProjectScope(id=event.project_id, project=await store.load_project(event.project_id))
    if scope.project is None or isinstance(event, ProjectDeleted):
        # Only a new project (others' conversations leave it) or a deleted one (its
        # owner's leave it) changes the conversations filed into it.
        scope.filed = await store.load_filed(event.project_id)
    apply_project_event(scope, event)
    _warn(scope.warnings)
    await store.save_project(scope)


async def _saved_prompt_event(store: ProjectionStore, event: SavedPromptEvent) -> None:
    scope = SavedPromptScope(id=event.prompt_id, prompt=await store.load_saved_prompt(event.prompt_id))
    apply_saved_prompt_event(scope, event)
    _warn(scope.warnings)
    await store.save_saved_prompt(scope)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        log.warning("%s", warning)
