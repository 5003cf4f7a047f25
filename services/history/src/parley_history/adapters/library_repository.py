"""The read side of projects and saved prompts (`SqlHistoryStore` inherits it;
their writes are events, applied by `SqlHistoryStore.apply`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parley_history.adapters.orm import Conversation, Project, SavedPrompt
from parley_history.adapters.paging import like_pattern, newest_first
from parley_history.adapters.views import project_view, prompt_view
from parley_history.domain.conversations import Cursor, cut_page
from parley_history.domain.errors import ProjectNotFound, PromptNotFound
from parley_history.domain.library import ProjectView, PromptPage, PromptScope, PromptView, decode_tags

T = TypeVar("T")


class LibraryQueries:
    async def _run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        raise NotImplementedError

    # -- projects -------------------------------------------------------------------

    async def list_projects(self, user_id: str) -> tuple[ProjectView, ...]:
        """The user's projects by name, each with its number of conversations."""

        async def work(session: AsyncSession) -> tuple[ProjectView, ...]:
            rows = list(
                await session.scalars(
                    _live_projects(user_id).order_by(func.lower(Project.name), Project.name, Project.id)
                )
            )
            counts = await _conversation_counts(session, user_id, [row.id for row in rows])
            return tuple(project_view(row, counts.get(row.id, 0)) for row in rows)

        return await self._run(work)

    async def get_project(self, user_id: str, project_id: UUID) -> ProjectView:
        async def work(session: AsyncSession) -> ProjectView:
            row = await session.scalar(_live_projects(user_id).where(Project.id == project_id))
            if row is None:
                raise ProjectNotFound(str(project_id))
            counts = await _conversation_counts(session, user_id, [row.id])
            return project_view(row, counts.get(row.id, 0))

        return await self._run(work)

    # -- saved prompts ------------------------------------------------------------------

    async def list_prompts(
        self,
        user_id: str,
        *,
        scope: PromptScope = "all",
        tag: str | None = None,
        query: str | None = None,
        limit: int = 50,
        cursor: Cursor | None = None,
    ) -> PromptPage:
        """Saved prompts the user may see (per `scope`), most recently changed first."""

        async def work(session: AsyncSession) -> PromptPage:
            statement = select(SavedPrompt).where(_visible(user_id, scope))
            if tag:
                statement = statement.where(SavedPrompt.tags.like(like_pattern(f",{tag},"), escape="\\"))
            if query and query.strip():
                pattern = like_pattern(query.strip().lower())
                statement = statement.where(
                    or_(
                        func.lower(SavedPrompt.name).like(pattern, escape="\\"),
                        func.lower(SavedPrompt.text).like(pattern, escape="\\"),
                    )
                )
            rows = list(await session.scalars(newest_first(statement, SavedPrompt, cursor, limit)))
            page, next_cursor = cut_page(rows, limit)
            return PromptPage(tuple(prompt_view(row) for row in page), next_cursor)

        return await self._run(work)

    async def prompt_tags(self, user_id: str, *, scope: PromptScope = "all") -> dict[str, int]:
        """Each tag of the saved prompts the user may see (per `scope`), with how many carry it."""

        async def work(session: AsyncSession) -> dict[str, int]:
            counts: Counter[str] = Counter()
            for stored in await session.scalars(select(SavedPrompt.tags).where(_visible(user_id, scope))):
                counts.update(decode_tags(stored))
            return dict(sorted(counts.items()))

        return await self._run(work)

    async def get_prompt(self, user_id: str, prompt_id: UUID) -> PromptView:
        """A saved prompt the user may see: theirs, or shared."""

        async def work(session: AsyncSession) -> PromptView:
            row = await session.get(SavedPrompt, prompt_id)
            if row is None or row.deleted_at is not None or (row.user_id != user_id and not row.shared):
                raise PromptNotFound(str(prompt_id))
            return prompt_view(row)

        return await self._run(work)

    async def count_prompts(self, user_id: str) -> int:
        async def work(session: AsyncSession) -> int:
            count = await session.scalar(
                select(func.count())
                .select_from(SavedPrompt)
                .where(SavedPrompt.user_id == user_id, SavedPrompt.deleted_at.is_(None))
            )
            return int(count or 0)

        return await self._run(work)


def _visible(user_id: str, scope: PromptScope) -> ColumnElement[bool]:
    if scope == "own":
        whose = SavedPrompt.user_id == user_id
    elif scope == "shared":
        whose = SavedPrompt.shared.is_(True)
    else:
        whose = or_(SavedPrompt.user_id == user_id, SavedPrompt.shared.is_(True))
    return and_(SavedPrompt.deleted_at.is_(None), whose)


def _live_projects(user_id: str) -> Select[Project]:
    return select(Project).where(Project.user_id == user_id, Project.deleted_at.is_(None))


async def _conversation_counts(session: AsyncSession, user_id: str, ids: list[UUID]) -> dict[UUID, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Conversation.project_id, func.count())
        .where(
            Conversation.user_id == user_id,
            Conversation.project_id.in_(ids),
            Conversation.deleted_at.is_(None),
            Conversation.fallback_title.is_not(None),
        )
        .group_by(Conversation.project_id)
    )
    return {project_id: count for project_id, count in rows if project_id is not None}
