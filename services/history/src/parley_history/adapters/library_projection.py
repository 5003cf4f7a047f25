"""Library events -> projects and saved prompts, inside the caller's transaction.

Like the conversation projection: derived from event content only (never the
clock), and independent of the order the events arrive in. Settings and content
go to the latest event by `(occurred_at, event_id)` (`versions`); an event that
comes before its row's creation creates the row (a project from its full
settings, a saved prompt empty until its content arrives); a delete reduces the
row to a tombstone (id, owner, times) that no later-arriving event changes. An
event naming another user's project or prompt is audited but changes nothing.
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
from parley_history.adapters import versions
from parley_history.adapters.orm import Conversation, Project, SavedPrompt
from parley_history.domain.library import encode_tags

log = logging.getLogger(__name__)

LibraryEvent = ProjectCreated | ProjectUpdated | ProjectDeleted | PromptSaved | PromptShared | PromptDeleted


async def project_library(session: AsyncSession, event: LibraryEvent) -> None:
    if isinstance(event, ProjectCreated | ProjectUpdated):
        await _project_settings(session, event)
    elif isinstance(event, ProjectDeleted):
        await _project_deleted(session, event)
    elif isinstance(event, PromptSaved):
        await _prompt_saved(session, event)
    elif isinstance(event, PromptShared):
        await _prompt_shared(session, event)
    else:
        await _prompt_deleted(session, event)


async def resolve_project(
    session: AsyncSession, user_id: str, project_id: UUID | None
) -> tuple[bool, UUID | None]:
    """Where an event of `user_id` naming `project_id` files a conversation: (False, None)
    for another user's project (the event changes nothing); else (True, the project, or
    None when none is named or it was deleted). A project not known yet counts as the
    user's: its creation may still be on its way (and if it is another user's, its
    creation takes the conversation out again)."""
    if project_id is None:
        return True, None
    project = await session.get(Project, project_id)
    if project is None:
        return True, project_id
    if project.user_id != user_id:
        log.warning("ignoring an event of user %r for project %s: not theirs", user_id, project_id)
        return False, None
    return True, (None if project.deleted_at is not None else project.id)


async def _project(
    session: AsyncSession, event: ProjectCreated | ProjectUpdated | ProjectDeleted
) -> Project | None:
    """The project this event may change (created when new, from the event's settings);
    None when it is another user's. Its `created_at` is the earliest event's time."""
    project = await session.get(Project, event.project_id)
    if project is None:
        settings = event if not isinstance(event, ProjectDeleted) else None
        project = Project(
            id=event.project_id,
            user_id=event.user_id,
            name=settings.name if settings else "",
            system_prompt=settings.system_prompt if settings else None,
            model=settings.model if settings else None,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
        session.add(project)
        if settings is not None:
            await versions.latest(session, project.id, "settings", event)
        return project
    if project.user_id != event.user_id:
        log.warning(
            "ignoring an event of user %r for project %s: not theirs", event.user_id, event.project_id
        )
        return None
    project.created_at = min(project.created_at, event.occurred_at)
    return project


async def _project_settings(session: AsyncSession, event: ProjectCreated | ProjectUpdated) -> None:
    existed = await session.get(Project, event.project_id) is not None
    project = await _project(session, event)
    if project is None or project.deleted_at is not None:
        return
    if not existed:
        await _unfile_others(session, project)
    elif await versions.latest(session, project.id, "settings", event):
        project.name, project.system_prompt, project.model = event.name, event.system_prompt, event.model
        project.updated_at = event.occurred_at


async def _unfile_others(session: AsyncSession, project: Project) -> None:
    """Conversations of other users filed into this project before it was known leave it."""
    await session.execute(
        update(Conversation)
        .where(Conversation.project_id == project.id, Conversation.user_id != project.user_id)
        .values(project_id=None)
        .execution_options(synchronize_session="fetch")
    )


async def _project_deleted(session: AsyncSession, event: ProjectDeleted) -> None:
    project = await _project(session, event)
    if project is None:
        return
    if project.deleted_at is not None:  # deleted twice: the first one counts
        project.deleted_at = project.updated_at = min(project.deleted_at, event.occurred_at)
        return
    project.name, project.system_prompt, project.model = "", None, None
    project.deleted_at = project.updated_at = event.occurred_at
    await versions.forget(session, [project.id])
    # Its conversations stay, in no project.
    await session.execute(
        update(Conversation)
        .where(Conversation.project_id == event.project_id, Conversation.user_id == event.user_id)
        .values(project_id=None)
        .execution_options(synchronize_session="fetch")
    )


async def _saved_prompt(
    session: AsyncSession, owner_id: str, event: LibraryEvent, prompt_id: UUID
) -> SavedPrompt | None:
    """The saved prompt this event may change (created empty and private when new);
    None when it is not `owner_id`'s. Its `created_at` is the earliest event's time."""
    prompt = await session.get(SavedPrompt, prompt_id)
    if prompt is None:
        prompt = SavedPrompt(
            id=prompt_id,
            user_id=owner_id,
            name="",
            text="",
            tags="",
            shared=False,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
        session.add(prompt)
        return prompt
    if prompt.user_id != owner_id:
        log.warning("ignoring an event for saved prompt %s: not %r's", prompt_id, owner_id)
        return None
    prompt.created_at = min(prompt.created_at, event.occurred_at)
    return prompt


async def _prompt_saved(session: AsyncSession, event: PromptSaved) -> None:
    prompt = await _saved_prompt(session, event.user_id, event, event.prompt_id)
    if prompt is None or prompt.deleted_at is not None:
        return
    if await versions.latest(session, prompt.id, "content", event):
        prompt.name, prompt.text, prompt.tags = event.name, event.text, encode_tags(event.tags)
        prompt.updated_at = event.occurred_at


async def _prompt_shared(session: AsyncSession, event: PromptShared) -> None:
    if event.shared and event.user_id != event.owner_id:
        log.warning(
            "ignoring a share of saved prompt %s by %r, not its owner", event.prompt_id, event.user_id
        )
        return
    prompt = await _saved_prompt(session, event.owner_id, event, event.prompt_id)
    if prompt is None or prompt.deleted_at is not None:
        return
    if await versions.latest(session, prompt.id, "shared", event):
        prompt.shared = event.shared


async def _prompt_deleted(session: AsyncSession, event: PromptDeleted) -> None:
    prompt = await _saved_prompt(session, event.user_id, event, event.prompt_id)
    if prompt is None:
        return
    if prompt.deleted_at is not None:  # deleted twice: the first one counts
        prompt.deleted_at = prompt.updated_at = min(prompt.deleted_at, event.occurred_at)
        return
    prompt.name, prompt.text, prompt.tags, prompt.shared = "", "", "", False
    prompt.deleted_at = prompt.updated_at = event.occurred_at
    await versions.forget(session, [prompt.id])
