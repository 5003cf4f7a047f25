"""The use cases of projects and saved prompts (`library`) on `FakeStore`: what they publish,
and what they refuse (another user's project or prompt, limits) with nothing published."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any
from uuid import UUID

import pytest

from parley_contracts import new_id
from parley_contracts.owned_ids import owns
from parley_history import library
from parley_history.domain.errors import (
    ConversationNotFound,
    InvalidInput,
    LimitReached,
    NotAllowed,
    ProjectNotFound,
    PromptNotFound,
)
from parley_history.domain.library import ProjectView, PromptView
from tests.events import prompt
from tests.fakes import FakePublisher, FakeStore


async def _project(store: FakeStore, user: str, name: str = "Garden", *, limit: int = 10) -> ProjectView:
    return await library.create_project(
        user, name=name, system_prompt=None, model=None, store=store, publisher=FakePublisher(), limit=limit
    )


async def _saved(store: FakeStore, user: str, *, shared: bool = False) -> PromptView:
    return await library.create_prompt(
        user,
        name="Pirate",
        text="Arr.",
        tags=["Fun"],
        shared=shared,
        store=store,
        publisher=FakePublisher(),
        limit=10,
    )


async def _all_refused(
    changes: Sequence[Coroutine[Any, Any, object]], error: type[Exception], publisher: FakePublisher
) -> None:
    """Each change raises `error`, and nothing is published."""
    for change in changes:
        with pytest.raises(error):
            await change
    assert publisher.published == []


async def _chat(store: FakeStore, user: str) -> UUID:
    event = prompt(user, "Tomatoes in pots?")
    await store.apply(event, event.to_json().decode())
    return event.conversation_id


async def test_a_project_is_created_cleaned_with_an_id_naming_its_owner_up_to_the_limit() -> None:
    store, publisher = FakeStore(), FakePublisher()
    created = await library.create_project(
        "alice",
        name="  Garden ",
        system_prompt="Be green.",
        model="m1",
        store=store,
        publisher=publisher,
        limit=1,
    )
    assert (created.name, created.system_prompt, created.model) == ("Garden", "Be green.", "m1")
    assert owns(created.id, "alice")

    with pytest.raises(LimitReached):
        await library.create_project(
            "alice", name="More", system_prompt=None, model=None, store=store, publisher=publisher, limit=1
        )
    with pytest.raises(InvalidInput):
        await library.create_project(
            "alice",
            name="two\nlines",
            system_prompt=None,
            model=None,
            store=store,
            publisher=publisher,
            limit=9,
        )
    assert [e.type for e in publisher.published] == ["project.created"]


async def test_a_project_update_publishes_the_full_settings_and_only_when_something_changed() -> None:
    store, publisher = FakeStore(), FakePublisher()
    project = await _project(store, "alice")

    same = await library.update_project(
        "alice", project.id, {"name": "Garden"}, store=store, publisher=publisher
    )
    assert same == project
    assert publisher.published == []
    with pytest.raises(InvalidInput):
        await library.update_project("alice", project.id, {"name": None}, store=store, publisher=publisher)

    updated = await library.update_project(
        "alice", project.id, {"system_prompt": "Be green."}, store=store, publisher=publisher
    )
    assert (updated.name, updated.system_prompt) == ("Garden", "Be green.")
    assert [e.model_dump(include={"name", "system_prompt"}) for e in publisher.published] == [
        {"name": "Garden", "system_prompt": "Be green."}
    ]


async def test_another_users_project_is_not_found_and_nothing_is_published() -> None:
    store, publisher = FakeStore(), FakePublisher()
    hers = await _project(store, "alice")
    his_chat = await _chat(store, "bob")

    for change in (
        library.update_project("bob", hers.id, {"name": "Mine now"}, store=store, publisher=publisher),
        library.delete_project("bob", hers.id, store=store, publisher=publisher),
        library.move_conversation("bob", his_chat, hers.id, store=store, publisher=publisher),
    ):
        with pytest.raises(ProjectNotFound):
            await change
    with pytest.raises(ProjectNotFound):
        await library.move_conversation("bob", his_chat, new_id(), store=store, publisher=publisher)

    assert publisher.published == []
    assert (await store.get_project("alice", hers.id)).name == "Garden"
    assert (await store.get_conversation("bob", his_chat)).summary.project_id is None


async def test_another_users_conversation_is_not_moved_into_ones_own_project() -> None:
    store, publisher = FakeStore(), FakePublisher()
    his = await _project(store, "bob")
    her_chat = await _chat(store, "alice")

    with pytest.raises(ConversationNotFound):
        await library.move_conversation("bob", her_chat, his.id, store=store, publisher=publisher)
    assert publisher.published == []
    assert (await store.get_project("bob", his.id)).conversation_count == 0


async def test_a_move_publishes_only_a_change_and_a_deleted_project_leaves_its_conversations() -> None:
    store, publisher = FakeStore(), FakePublisher()
    project, chat = await _project(store, "alice"), await _chat(store, "alice")

    moved = await library.move_conversation("alice", chat, project.id, store=store, publisher=publisher)
    again = await library.move_conversation("alice", chat, project.id, store=store, publisher=publisher)
    assert moved.summary.project_id == again.summary.project_id == project.id
    assert (await store.get_project("alice", project.id)).conversation_count == 1

    await library.delete_project("alice", project.id, store=store, publisher=publisher)
    assert (await store.get_conversation("alice", chat)).summary.project_id is None
    assert await store.list_projects("alice") == ()
    assert [e.type for e in publisher.published] == ["conversation.moved", "project.deleted"]


async def test_a_saved_prompt_shared_at_creation_is_saved_then_shared_up_to_the_limit() -> None:
    store, publisher = FakeStore(), FakePublisher()
    saved = await library.create_prompt(
        "alice",
        name="Pirate",
        text="Arr.",
        tags=["Fun", "fun"],
        shared=True,
        store=store,
        publisher=publisher,
        limit=1,
    )
    assert (saved.tags, saved.shared, saved.owner_id) == (("fun",), True, "alice")
    with pytest.raises(LimitReached):
        await library.create_prompt(
            "alice", name="N", text="T", tags=[], shared=False, store=store, publisher=publisher, limit=1
        )
    assert [e.type for e in publisher.published] == ["library.prompt.saved", "library.prompt.shared"]


async def test_only_the_owner_changes_a_shared_prompt_and_an_admin_only_unshares_it() -> None:
    store, publisher = FakeStore(), FakePublisher()
    shared = await _saved(store, "alice", shared=True)

    changes = [
        library.update_prompt("bob", shared.id, {"name": "x"}, admin=False, store=store, publisher=publisher),
        library.update_prompt(
            "bob", shared.id, {"shared": False}, admin=False, store=store, publisher=publisher
        ),
        library.update_prompt("root", shared.id, {"text": "x"}, admin=True, store=store, publisher=publisher),
        library.update_prompt(
            "root", shared.id, {"shared": True}, admin=True, store=store, publisher=publisher
        ),
        library.delete_prompt("bob", shared.id, store=store, publisher=publisher),
    ]
    await _all_refused(changes, NotAllowed, publisher)

    unshared = await library.update_prompt(
        "root", shared.id, {"shared": False}, admin=True, store=store, publisher=publisher
    )
    assert (unshared.shared, unshared.owner_id) == (False, "alice")
    assert [(e.type, getattr(e, "owner_id", None)) for e in publisher.published] == [
        ("library.prompt.shared", "alice")
    ]
    with pytest.raises(PromptNotFound):
        await store.get_prompt("bob", shared.id)
    assert (await store.get_prompt("alice", shared.id)).shared is False


async def test_another_users_private_prompt_is_not_found() -> None:
    store, publisher = FakeStore(), FakePublisher()
    private = await _saved(store, "alice")

    changes = [
        library.update_prompt(
            "bob", private.id, {"name": "x"}, admin=False, store=store, publisher=publisher
        ),
        library.update_prompt(
            "root", private.id, {"shared": False}, admin=True, store=store, publisher=publisher
        ),
        library.delete_prompt("bob", private.id, store=store, publisher=publisher),
    ]
    await _all_refused(changes, PromptNotFound, publisher)


async def test_a_prompt_edit_publishes_only_a_change_and_null_is_refused() -> None:
    store, publisher = FakeStore(), FakePublisher()
    saved = await _saved(store, "alice")

    same = await library.update_prompt(
        "alice", saved.id, {"name": "Pirate", "tags": ["FUN"]}, admin=False, store=store, publisher=publisher
    )
    assert same == saved
    assert publisher.published == []
    with pytest.raises(InvalidInput):
        await library.update_prompt(
            "alice", saved.id, {"text": None}, admin=False, store=store, publisher=publisher
        )

    edited = await library.update_prompt(
        "alice", saved.id, {"text": "Arr!", "tags": []}, admin=False, store=store, publisher=publisher
    )
    assert (edited.name, edited.text, edited.tags) == ("Pirate", "Arr!", ())
    await library.delete_prompt("alice", saved.id, store=store, publisher=publisher)
    with pytest.raises(PromptNotFound):
        await store.get_prompt("alice", saved.id)
    assert [e.type for e in publisher.published] == ["library.prompt.saved", "library.prompt.deleted"]
