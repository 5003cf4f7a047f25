"""Library events -> projects and saved prompts: the rules, on plain data.

Like the conversation projection (`domain.projection`): derived from event content
only (never the clock), and independent of the order the events arrive in.
Settings and content go to the latest event by `(occurred_at, event_id)`
(`domain.versions`); an event that comes before its row's creation creates the
row (a project from its full settings, a saved prompt empty until its content
arrives); a delete reduces the row to a tombstone (id, owner, times) that no
later-arriving event changes. An event naming another user's project or prompt is
audited but changes nothing.
"""

from __future__ import annotations

from uuid import UUID

from parley_contracts import (
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    PromptDeleted,
    PromptSaved,
    PromptShared,
)
from parley_contracts.library import ProjectSettings
from parley_history.domain.library import encode_tags
from parley_history.domain.state import ProjectScope, ProjectState, SavedPromptScope, SavedPromptState

ProjectEvent = ProjectCreated | ProjectUpdated | ProjectDeleted
SavedPromptEvent = PromptSaved | PromptShared | PromptDeleted


def resolve_project(
    project: ProjectState | None, user_id: str, project_id: UUID | None, warnings: list[str]
) -> tuple[bool, UUID | None]:
    """Where an event of `user_id` naming `project_id` (stored as `project`, if known) files a
    conversation: (False, None) for another user's project (the event changes nothing); else
    (True, the project, or None when none is named or it was deleted). A project not known
    yet counts as the user's: its creation may still be on its way (and if it is another
    user's, its creation takes the conversation out again)."""
    if project_id is None:
        return True, None
    if project is None:
        return True, project_id
    if project.user_id != user_id:
        warnings.append(f"ignoring an event of user {user_id!r} for project {project_id}: not theirs")
        return False, None
    return True, (None if project.deleted_at is not None else project.id)


def apply_project_event(scope: ProjectScope, event: ProjectEvent) -> None:
    if isinstance(event, ProjectDeleted):
        _project_deleted(scope, event)
    else:
        _project_settings(scope, event)


def apply_saved_prompt_event(scope: SavedPromptScope, event: SavedPromptEvent) -> None:
    if isinstance(event, PromptSaved):
        _prompt_saved(scope, event)
    elif isinstance(event, PromptShared):
        _prompt_shared(scope, event)
    else:
        _prompt_deleted(scope, event)


def _project(scope: ProjectScope, event: ProjectSettings | ProjectDeleted) -> ProjectState | None:
    """The project this event may change (created when new, from the event's settings);
    None when it is another user's. Its `created_at` is the earliest event's time."""
    project = scope.project
    if project is None:
        settings = event if not isinstance(event, ProjectDeleted) else None
        project = scope.project = ProjectState(
            id=event.project_id,
            user_id=event.user_id,
            name=settings.name if settings else "",
            system_prompt=settings.system_prompt if settings else None,
            model=settings.model if settings else None,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
        if settings is not None:
            project.versions.latest("settings", event)
        return project
    if project.user_id != event.user_id:
        scope.warnings.append(
            f"ignoring an event of user {event.user_id!r} for project {event.project_id}: not theirs"
        )
        return None
    project.created_at = min(project.created_at, event.occurred_at)
    return project


def _project_settings(scope: ProjectScope, event: ProjectSettings) -> None:
    existed = scope.project is not None
    project = _project(scope, event)
    if project is None or project.deleted_at is not None:
        return
    if not existed:
        # Conversations of other users filed into it before it was known leave it.
        _unfile(scope, project.user_id, others=True)
    elif project.versions.latest("settings", event):
        project.name, project.system_prompt, project.model = event.name, event.system_prompt, event.model
        project.updated_at = event.occurred_at


def _project_deleted(scope: ProjectScope, event: ProjectDeleted) -> None:
    project = _project(scope, event)
    if project is None:
        return
    if project.deleted_at is not None:  # deleted twice: the first one counts
        project.deleted_at = project.updated_at = min(project.deleted_at, event.occurred_at)
        return
    project.name, project.system_prompt, project.model = "", None, None
    project.deleted_at = project.updated_at = event.occurred_at
    project.versions.forget()
    # Its conversations stay, in no project.
    _unfile(scope, event.user_id, others=False)


def _unfile(scope: ProjectScope, owner: str, *, others: bool) -> None:
    """Take the conversations of `owner` (with `others`: of every other user) out of the project."""
    for conversation in scope.filed:
        if conversation.project_id == scope.id and (conversation.user_id != owner) == others:
            conversation.project_id = None


def _saved_prompt(scope: SavedPromptScope, owner_id: str, event: SavedPromptEvent) -> SavedPromptState | None:
    """The saved prompt this event may change (created empty and private when new);
    None when it is not `owner_id`'s. Its `created_at` is the earliest event's time."""
    prompt = scope.prompt
    if prompt is None:
        prompt = scope.prompt = SavedPromptState(
            id=scope.id, user_id=owner_id, created_at=event.occurred_at, updated_at=event.occurred_at
        )
        return prompt
    if prompt.user_id != owner_id:
        scope.warnings.append(f"ignoring an event for saved prompt {scope.id}: not {owner_id!r}'s")
        return None
    prompt.created_at = min(prompt.created_at, event.occurred_at)
    return prompt


def _prompt_saved(scope: SavedPromptScope, event: PromptSaved) -> None:
    prompt = _saved_prompt(scope, event.user_id, event)
    if prompt is None or prompt.deleted_at is not None:
        return
    if prompt.versions.latest("content", event):
        prompt.name, prompt.text, prompt.tags = event.name, event.text, encode_tags(event.tags)
        prompt.updated_at = event.occurred_at


def _prompt_shared(scope: SavedPromptScope, event: PromptShared) -> None:
    if event.shared and event.user_id != event.owner_id:
        scope.warnings.append(
            f"ignoring a share of saved prompt {event.prompt_id} by {event.user_id!r}, not its owner"
        )
        return
    prompt = _saved_prompt(scope, event.owner_id, event)
    if prompt is None or prompt.deleted_at is not None:
        return
    if prompt.versions.latest("shared", event):
        prompt.shared = event.shared


def _prompt_deleted(scope: SavedPromptScope, event: PromptDeleted) -> None:
    prompt = _saved_prompt(scope, event.user_id, event)
    if prompt is None:
        return
    if prompt.deleted_at is not None:  # deleted twice: the first one counts
        prompt.deleted_at = prompt.updated_at = min(prompt.deleted_at, event.occurred_at)
        return
    prompt.name, prompt.text, prompt.tags, prompt.shared = "", "", "", False
    prompt.deleted_at = prompt.updated_at = event.occurred_at
    prompt.versions.forget()
