"""The projection of projects and saved prompts on PostgreSQL and SQLite:
duplicates change nothing, another user's events are audited but not applied,
late events for deleted things change nothing, and the order of a move and a
delete does not matter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parley_contracts import DomainEvent, new_id
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.domain.errors import ProjectNotFound, PromptNotFound
from tests.events import (
    moved,
    project_created,
    project_deleted,
    project_updated,
    prompt,
    prompt_deleted,
    prompt_saved,
    prompt_shared,
)


async def _apply(store: SqlHistoryStore, *events: DomainEvent) -> list[bool]:
    """Whether each was a duplicate."""
    return [(await store.apply(event, event.to_json().decode())).duplicate for event in events]


async def test_duplicates_and_other_users_events_change_nothing(store: SqlHistoryStore) -> None:
    chat = prompt("alice", "hello")
    created = project_created("alice", "P", model="m")
    filed = moved("alice", chat.conversation_id, created.project_id)
    assert await _apply(store, chat, created, filed, created, filed) == [False, False, False, True, True]
    assert (await store.get_project("alice", created.project_id)).conversation_count == 1

    # mallory's events naming alice's things are audited, not applied
    hijack = project_updated("mallory", created.project_id, "Mine")
    stolen = project_created("mallory", "Mine too", project_id=created.project_id)
    mine = project_created("mallory", "M")
    sneak = moved("mallory", chat.conversation_id, mine.project_id)
    into_hers = moved("alice", chat.conversation_id, mine.project_id)
    wipe = project_deleted("mallory", created.project_id)
    assert await _apply(store, hijack, stolen, mine, sneak, into_hers, wipe) == [False] * 6
    view = await store.get_project("alice", created.project_id)
    assert (view.name, view.model, view.conversation_count) == ("P", "m", 1)
    assert (
        await store.get_conversation("alice", chat.conversation_id)
    ).summary.project_id == created.project_id
    with pytest.raises(ProjectNotFound):
        await store.get_project("mallory", created.project_id)
    assert await store.event_count() == 9


@pytest.mark.parametrize("move_first", [True, False])
async def test_a_move_and_a_delete_give_the_same_rows_in_either_order(
    store: SqlHistoryStore, move_first: bool
) -> None:
    chat = prompt("alice", "hello")
    old, new = (project_created("alice", n) for n in ("old", "new"))
    first_move = moved("alice", chat.conversation_id, old.project_id)
    move = moved("alice", chat.conversation_id, new.project_id)
    delete = project_deleted("alice", new.project_id)
    await _apply(store, chat, old, new, first_move, *((move, delete) if move_first else (delete, move)))
    assert (await store.get_conversation("alice", chat.conversation_id)).summary.project_id is None
    assert [p.name for p in await store.list_projects("alice")] == ["old"]
    late = project_updated("alice", new.project_id, "back")
    await _apply(store, late)
    assert [p.name for p in await store.list_projects("alice")] == ["old"]


async def test_saved_prompts_from_events(store: SqlHistoryStore) -> None:
    saved = prompt_saved("alice", "N", "T", tags=("a", "b"))
    edit = prompt_saved(
        "alice",
        "N2",
        "T2",
        tags=("b", "c"),
        prompt_id=saved.prompt_id,
        at=saved.occurred_at + timedelta(seconds=1),
    )
    # one transaction (as replay does), the same prompt saved twice
    applied = await store.apply_batch([(e, e.to_json().decode()) for e in (saved, edit, edit)])
    assert [a.duplicate for a in applied] == [False, False, True]
    view = await store.get_prompt("alice", saved.prompt_id)
    assert (view.name, view.text, view.tags, view.shared) == ("N2", "T2", ("b", "c"), False)
    assert view.updated_at == edit.occurred_at
    assert [p.id for p in (await store.list_prompts("alice", tag="c")).items] == [saved.prompt_id]
    assert (await store.list_prompts("alice", tag="a")).items == ()

    # only the owner shares; an admin's unshare names the owner
    await _apply(
        store,
        prompt_shared("bob", saved.prompt_id, owner="alice", on=True),
        prompt_saved("bob", "bob's now", "x", prompt_id=saved.prompt_id),
    )
    with pytest.raises(PromptNotFound):
        await store.get_prompt("bob", saved.prompt_id)
    await _apply(store, prompt_shared("alice", saved.prompt_id, owner="alice", on=True))
    assert (await store.get_prompt("bob", saved.prompt_id)).name == "N2"
    await _apply(store, prompt_shared("root", saved.prompt_id, owner="alice", on=False))
    with pytest.raises(PromptNotFound):
        await store.get_prompt("bob", saved.prompt_id)

    # deleted stays deleted, whatever comes late
    await _apply(
        store,
        prompt_deleted("alice", saved.prompt_id),
        edit.model_copy(update={"event_id": new_id()}),
    )
    with pytest.raises(PromptNotFound):
        await store.get_prompt("alice", saved.prompt_id)
    assert await store.count_prompts("alice") == 0


async def test_a_chat_started_in_a_project_is_filed_there_only_if_the_project_is_the_users(
    store: SqlHistoryStore,
) -> None:
    mine = project_created("alice", "Mine")
    theirs = project_created("bob", "Bob's")
    inside = prompt("alice", "in my project").model_copy(update={"project_id": mine.project_id})
    sneaky = prompt("alice", "in bob's project").model_copy(update={"project_id": theirs.project_id})
    await _apply(store, mine, theirs, inside, sneaky)
    assert (
        await store.get_conversation("alice", inside.conversation_id)
    ).summary.project_id == mine.project_id
    assert (await store.get_conversation("alice", sneaky.conversation_id)).summary.project_id is None
    assert (await store.get_project("alice", mine.project_id)).conversation_count == 1
    assert (await store.get_project("bob", theirs.project_id)).conversation_count == 0
