"""Use cases of projects and the prompt library, called by the routes.

Like a conversation's rename: each change is published on `chat.events` (so the
audit stream and a replay see it) and applied at once; the consumer's copy of
the event then changes nothing (same `event_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from uuid import UUID

from parley_contracts import (
    ConversationMoved,
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    PromptDeleted,
    PromptSaved,
    PromptShared,
    new_id,
)
from parley_contracts.owned_ids import new_owned_id
from parley_history.domain.conversations import ConversationView
from parley_history.domain.errors import InvalidInput, LimitReached
from parley_history.domain.library import (
    PROMPT_TEXT_MAX,
    SYSTEM_PROMPT_MAX,
    ProjectView,
    PromptView,
    check_prompt_edit,
    check_prompt_share,
    clean_model,
    clean_name,
    clean_optional_text,
    clean_tags,
    clean_text,
)
from parley_history.ports import EventPublisher, LibraryChanges
from parley_history.services import record

# -- projects -------------------------------------------------------------------


async def create_project(
    user_id: str,
    *,
    name: str,
    system_prompt: str | None,
    model: str | None,
    store: LibraryChanges,
    publisher: EventPublisher,
    limit: int,
) -> ProjectView:
    event = ProjectCreated(
        user_id=user_id,
        project_id=new_owned_id(user_id),  # so that the gateway refuses it in another user's prompt
        name=clean_name(name),
        system_prompt=clean_optional_text(system_prompt, what="system prompt", limit=SYSTEM_PROMPT_MAX),
        model=clean_model(model),
    )
    if len(await store.list_projects(user_id)) >= limit:
        raise LimitReached(f"at most {limit} projects per user")
    await record(event, store=store, publisher=publisher)
    return await store.get_project(user_id, event.project_id)


async def update_project(
    user_id: str,
    project_id: UUID,
    changes: Mapping[str, Any],
    *,
    store: LibraryChanges,
    publisher: EventPublisher,
) -> ProjectView:
    """`changes`: any of `name`, `system_prompt`, `model` (None clears a default).
    Publishes `project.updated` with the project's full settings, if any changed."""
    current = await store.get_project(user_id, project_id)
    name = current.name
    if "name" in changes:
        if changes["name"] is None:
            raise InvalidInput("the name cannot be removed")
        name = clean_name(changes["name"])
    system_prompt = current.system_prompt
    if "system_prompt" in changes:
        system_prompt = clean_optional_text(
            changes["system_prompt"], what="system prompt", limit=SYSTEM_PROMPT_MAX
        )
    model = clean_model(changes["model"]) if "model" in changes else current.model
    if (name, system_prompt, model) == (current.name, current.system_prompt, current.model):
        return current
    event = ProjectUpdated(
        user_id=user_id, project_id=project_id, name=name, system_prompt=system_prompt, model=model
    )
    await record(event, store=store, publisher=publisher)
    return await store.get_project(user_id, project_id)


async def delete_project(
    user_id: str, project_id: UUID, *, store: LibraryChanges, publisher: EventPublisher
) -> None:
    """The project goes; its conversations stay, in no project."""
    await store.get_project(user_id, project_id)
    await record(ProjectDeleted(user_id=user_id, project_id=project_id), store=store, publisher=publisher)


async def move_conversation(
    user_id: str,
    conversation_id: UUID,
    project_id: UUID | None,
    *,
    store: LibraryChanges,
    publisher: EventPublisher,
) -> ConversationView:
    """Into one of the user's projects, or out of any (`None`)."""
    view = await store.get_conversation(user_id, conversation_id)
    if project_id is not None:
        await store.get_project(user_id, project_id)
    if view.summary.project_id == project_id:
        return view
    event = ConversationMoved(user_id=user_id, conversation_id=conversation_id, project_id=project_id)
    await record(event, store=store, publisher=publisher)
    return await store.get_conversation(user_id, conversation_id)


# -- the prompt library -------------------------------------------------------------


async def create_prompt(
    user_id: str,
    *,
    name: str,
    text: str,
    tags: list[str],
    shared: bool,
    store: LibraryChanges,
    publisher: EventPublisher,
    limit: int,
) -> PromptView:
    event = PromptSaved(
        user_id=user_id,
        prompt_id=new_id(),
        name=clean_name(name),
        text=clean_text(text, what="text", limit=PROMPT_TEXT_MAX),
        tags=clean_tags(tags),
    )
    if await store.count_prompts(user_id) >= limit:
        raise LimitReached(f"at most {limit} saved prompts per user")
    await record(event, store=store, publisher=publisher)
    if shared:
        share = PromptShared(user_id=user_id, prompt_id=event.prompt_id, owner_id=user_id, shared=True)
        await record(share, store=store, publisher=publisher)
    return await store.get_prompt(user_id, event.prompt_id)


async def update_prompt(
    user_id: str,
    prompt_id: UUID,
    changes: Mapping[str, Any],
    *,
    admin: bool,
    store: LibraryChanges,
    publisher: EventPublisher,
) -> PromptView:
    """`changes`: any of `name`, `text`, `tags` (the owner only) and `shared` (the
    owner; an admin may set it to false on anyone's)."""
    current = await store.get_prompt(user_id, prompt_id)
    for field in ("name", "text", "tags", "shared"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null")
    content = {key: changes[key] for key in ("name", "text", "tags") if key in changes}
    if content:
        check_prompt_edit(current, user_id)
    if "shared" in changes:
        check_prompt_share(current, user_id, admin=admin, shared=changes["shared"])
    if content:
        name = clean_name(content["name"]) if "name" in content else current.name
        text = current.text
        if "text" in content:
            text = clean_text(content["text"], what="text", limit=PROMPT_TEXT_MAX)
        tags = clean_tags(content["tags"]) if "tags" in content else current.tags
        if (name, text, tags) != (current.name, current.text, current.tags):
            saved = PromptSaved(user_id=user_id, prompt_id=prompt_id, name=name, text=text, tags=tags)
            await record(saved, store=store, publisher=publisher)
    if "shared" in changes and changes["shared"] != current.shared:
        share = PromptShared(
            user_id=user_id, prompt_id=prompt_id, owner_id=current.owner_id, shared=changes["shared"]
        )
        await record(share, store=store, publisher=publisher)
    if current.owner_id != user_id:
        return _after(current, changes)
    return await store.get_prompt(user_id, prompt_id)


def _after(prompt: PromptView, changes: Mapping[str, Any]) -> PromptView:
    """What an admin who unshared someone's prompt gets back (they can no longer read it)."""
    return replace(prompt, shared=bool(changes.get("shared", prompt.shared)))


async def delete_prompt(
    user_id: str, prompt_id: UUID, *, store: LibraryChanges, publisher: EventPublisher
) -> None:
    check_prompt_edit(await store.get_prompt(user_id, prompt_id), user_id)
    await record(PromptDeleted(user_id=user_id, prompt_id=prompt_id), store=store, publisher=publisher)
