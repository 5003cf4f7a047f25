"""Library events -> projects and saved prompts, inside the caller's transaction.

Like the conversation projection: derived from event content only (never the
clock); an event naming another user's project or prompt is audited but
changes nothing; deleted ones stay as tombstones so late events change nothing.
"""

from __future__ import annotations

import logging
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from parley_contracts import (
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    PromptDeleted,
    PromptSaved,
    PromptShared,
)
from parley_history.adapters.orm import Conversation, Project, SavedPrompt
from parley_history.domain.library import encode_tags

log = logging.getLogger(__name__)

LibraryEvent = ProjectCreated | ProjectUpdated | ProjectDeleted | PromptSaved | PromptShared | PromptDeleted


async def project_library(session: AsyncSession, event: LibraryEvent) -> None:
    if isinstance(event, ProjectCreated):
        await _project_created(session, event)
    elif isinstance(event, ProjectUpdated):
        await _project_updated(session, event)
    elif isinstance(event, ProjectDeleted):
        await _project_deleted(session, event)
    elif isinstance(event, PromptSaved):
        await _prompt_saved(session, event)
    elif isinstance(event, PromptShared):
        await _prompt_shared(session, event)
    else:
        await _prompt_deleted(session, event)


async def owned_project(session: AsyncSession, user_id: str, project_id: UUID) -> Project | None:
    """The project if it is `user_id`'s (live or deleted); None (logged) otherwise."""
    project = await session.get(Project, project_id)
    if project is None or project.user_id != user_id:
        log.warning("ignoring an event of user %r for project %s: not theirs or unknown", user_id, project_id)
        return None
    return project


async def _project_created(session: AsyncSession, event: ProjectCreated) -> None:
    if await session.get(Project, event.project_id) is not None:
        return
    session.add(
        Project(
            id=event.project_id,
            user_id=event.user_id,
            name=event.name,
            system_prompt=event.system_prompt,
            model=event.model,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    )


async def _project_updated(session: AsyncSession, event: ProjectUpdated) -> None:
    project = await owned_project(session, event.user_id, event.project_id)
    if project is None or project.deleted_at is not None:
        return
    project.name, project.system_prompt, project.model = event.name, event.system_prompt, event.model
    project.updated_at = max(project.updated_at, event.occurred_at)


async def _project_deleted(session: AsyncSession, event: ProjectDeleted) -> None:
    project = await owned_project(session, event.user_id, event.project_id)
    if project is None or project.deleted_at is not None:
        return
    project.deleted_at = event.occurred_at
    # Its conversations stay, in no project.
    await session.execute(
        update(Conversation)
        .where(Conversation.project_id == event.project_id, Conversation.user_id == event.user_id)
        .values(project_id=None)
        .execution_options(synchronize_session="fetch")
    )


async def _owned_prompt(session: AsyncSession, owner_id: str, prompt_id: UUID) -> SavedPrompt | None:
    prompt = await session.get(SavedPrompt, prompt_id)
    if prompt is None or prompt.user_id != owner_id:
        log.warning("ignoring an event for saved prompt %s: not %r's or unknown", prompt_id, owner_id)
        return None
    return None if prompt.deleted_at is not None else prompt


async def _prompt_saved(session: AsyncSession, event: PromptSaved) -> None:
    if await session.get(SavedPrompt, event.prompt_id) is None:
        session.add(
            SavedPrompt(
                id=event.prompt_id,
                user_id=event.user_id,
                name=event.name,
                text=event.text,
                tags=encode_tags(event.tags),
                shared=False,
                created_at=event.occurred_at,
                updated_at=event.occurred_at,
            )
        )
        return
    prompt = await _owned_prompt(session, event.user_id, event.prompt_id)
    if prompt is not None:
        prompt.name, prompt.text, prompt.tags = event.name, event.text, encode_tags(event.tags)
        prompt.updated_at = max(prompt.updated_at, event.occurred_at)


async def _prompt_shared(session: AsyncSession, event: PromptShared) -> None:
    prompt = await _owned_prompt(session, event.owner_id, event.prompt_id)
    if prompt is None:
        return
    if event.shared and event.user_id != event.owner_id:
        log.warning(
            "ignoring a share of saved prompt %s by %r, not its owner", event.prompt_id, event.user_id
        )
        return
    prompt.shared = event.shared


async def _prompt_deleted(session: AsyncSession, event: PromptDeleted) -> None:
    prompt = await _owned_prompt(session, event.user_id, event.prompt_id)
    if prompt is not None:
        prompt.deleted_at = event.occurred_at
