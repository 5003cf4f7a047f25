"""Events -> rows, inside the caller's transaction: `ProjectionStore` on a SQLAlchemy
session. It loads the rows an event touches as plain state, the projection rules
(`projector`, `domain.projection`) change that, and it writes the state back onto the
same rows; each row's field versions live in `field_versions`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley_contracts import DomainEvent, UserAccessChanged
from parley_history import projector
from parley_history.adapters.access_projection import project_access
from parley_history.adapters.orm import Conversation, FieldVersion, Message, Project, SavedPrompt
from parley_history.domain.conversations import TitleRequest
from parley_history.domain.state import (
    ConversationScope,
    ConversationState,
    MessageState,
    ProjectScope,
    ProjectState,
    SavedPromptScope,
    SavedPromptState,
)
from parley_history.domain.versions import FieldVersions

_State = ConversationState | MessageState | ProjectState | SavedPromptState
_Row = Conversation | Message | Project | SavedPrompt
S = TypeVar("S", ConversationState, MessageState, ProjectState, SavedPromptState)

_TABLES: dict[type[_State], type[_Row]] = {
    ConversationState: Conversation,
    MessageState: Message,
    ProjectState: Project,
    SavedPromptState: SavedPrompt,
}
_COLUMNS: dict[type[_State], tuple[str, ...]] = {
    state: tuple(f.name for f in fields(state) if f.name != "versions") for state in _TABLES
}


async def project(session: AsyncSession, event: DomainEvent) -> TitleRequest | None:
    """Project `event` in `session`'s transaction; the title request it calls for, if any."""
    if isinstance(event, UserAccessChanged):
        await project_access(session, event)
        return None
    return await projector.project(SqlProjectionStore(session), event)


class SqlProjectionStore:
    """`ProjectionStore` for one event: it remembers the rows it loaded, to write the
    state back onto them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows: dict[tuple[type[_State], UUID], _Row] = {}
        self._versions: dict[UUID, dict[str, FieldVersion]] = {}

    async def load_conversation(self, conversation_id: UUID) -> ConversationState | None:
        return await self._get(ConversationState, conversation_id)

    async def load_messages(self, ids: Collection[UUID]) -> dict[UUID, MessageState]:
        loaded = {}
        for message_id in ids:
            message = await self._get(MessageState, message_id)
            if message is not None:
                loaded[message_id] = message
        return loaded

    async def latest_chat_time(self, conversation_id: UUID, *, besides: Collection[UUID]) -> datetime | None:
        statement = select(func.max(Message.created_at), func.max(Message.completed_at)).where(
            Message.conversation_id == conversation_id, Message.purpose == "chat"
        )
        if besides:
            statement = statement.where(Message.id.not_in(besides))
        created, completed = (await self._session.execute(statement)).one()
        times: list[datetime] = [at for at in (created, completed) if at is not None]
        return max(times) if times else None

    async def load_project(self, project_id: UUID) -> ProjectState | None:
        return await self._get(ProjectState, project_id)

    async def load_filed(self, project_id: UUID) -> list[ConversationState]:
        rows = list(
            await self._session.scalars(select(Conversation).where(Conversation.project_id == project_id))
        )
        return await self._states(ConversationState, rows)

    async def load_saved_prompt(self, prompt_id: UUID) -> SavedPromptState | None:
        return await self._get(SavedPromptState, prompt_id)

    async def save_conversation(self, scope: ConversationScope) -> None:
        if scope.conversation is not None:
            await self._save(scope.conversation)
        for message in scope.messages.values():
            await self._save(message)
        if scope.dropped:
            messages = list(
                await self._session.scalars(select(Message.id).where(Message.conversation_id == scope.id))
            )
            if messages:
                await self._session.execute(delete(FieldVersion).where(FieldVersion.entity_id.in_(messages)))
            await self._session.execute(delete(Message).where(Message.conversation_id == scope.id))

    async def save_project(self, scope: ProjectScope) -> None:
        if scope.project is not None:
            await self._save(scope.project)
        for conversation in scope.filed:
            await self._save(conversation)

    async def save_saved_prompt(self, scope: SavedPromptScope) -> None:
        if scope.prompt is not None:
            await self._save(scope.prompt)

    async def _get(self, state: type[S], entity_id: UUID) -> S | None:
        row = cast("_Row | None", await self._session.get(_TABLES[state], entity_id))
        return None if row is None else (await self._states(state, [row]))[0]

    async def _states(self, state: type[S], rows: Sequence[_Row]) -> list[S]:
        """`rows` as `state`s, with their versions (a row not stored has none)."""
        if rows:
            ids = [row.id for row in rows]
            for version in await self._session.scalars(
                select(FieldVersion).where(FieldVersion.entity_id.in_(ids))
            ):
                self._versions.setdefault(version.entity_id, {})[version.field] = version
        make: Callable[..., S] = state
        loaded = []
        for row in rows:
            self._rows[state, row.id] = row
            stored = self._versions.get(row.id, {})
            versions = FieldVersions({name: (v.occurred_at, v.event_id) for name, v in stored.items()})
            loaded.append(make(**_values(state, row), versions=versions))
        return loaded

    async def _save(self, state: _State) -> None:
        values = _values(type(state), state)
        row = self._rows.get((type(state), state.id))
        if row is None:
            self._session.add(_TABLES[type(state)](**values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
        await self._save_versions(state.id, state.versions)

    async def _save_versions(self, entity_id: UUID, versions: FieldVersions) -> None:
        stored = self._versions.get(entity_id, {})
        for name, forgotten in stored.items():
            if name not in versions.by_field:
                await self._session.delete(forgotten)
        for name, (at, event_id) in versions.by_field.items():
            row = stored.get(name)
            if row is None:
                self._session.add(
                    FieldVersion(entity_id=entity_id, field=name, occurred_at=at, event_id=event_id)
                )
            elif (row.occurred_at, row.event_id) != (at, event_id):
                row.occurred_at, row.event_id = at, event_id


def _values(state: type[_State], source: Any) -> dict[str, Any]:
    return {name: getattr(source, name) for name in _COLUMNS[state]}
