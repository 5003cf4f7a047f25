"""The REST changes of a conversation (`services.rename`, `set_pinned`, `select_branch`,
`delete`) on `FakeStore`: published, then applied; refused, with nothing published, for
anyone but the owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from parley_contracts import new_id
from parley_history import services
from parley_history.domain.errors import ConversationNotFound, InvalidInput
from tests.events import finished, prompt
from tests.fakes import FakePublisher, FakeStore


async def _chat(store: FakeStore, user: str = "alice") -> UUID:
    first = prompt(user, "What is Rust?")
    for event in (first, finished(first, "A language.")):
        await store.apply(event, event.to_json().decode())
    return first.conversation_id


async def test_the_owners_changes_are_published_then_applied() -> None:
    store, publisher = FakeStore(), FakePublisher()
    chat = await _chat(store)

    renamed = await services.rename("alice", chat, "Rust", store=store, publisher=publisher)
    pinned = await services.set_pinned("alice", chat, True, store=store, publisher=publisher)

    assert (renamed.summary.title, pinned.summary.title, pinned.summary.pinned) == ("Rust", "Rust", True)
    assert [e.type for e in publisher.published] == ["conversation.renamed", "conversation.pinned"]
    assert store.applied[-2:] == publisher.published


async def test_another_users_conversation_is_not_found_and_nothing_is_published() -> None:
    store, publisher = FakeStore(), FakePublisher()
    chat = await _chat(store, "alice")
    leaf = (await store.get_conversation("alice", chat)).messages[-1].id
    applied = len(store.applied)

    for change in (
        services.rename("bob", chat, "Mine", store=store, publisher=publisher),
        services.set_pinned("bob", chat, True, store=store, publisher=publisher),
        services.select_branch("bob", chat, leaf, store=store, publisher=publisher),
        services.delete("bob", chat, store=store, publisher=publisher),
    ):
        with pytest.raises(ConversationNotFound):
            await change

    assert publisher.published == []
    assert len(store.applied) == applied
    view = await store.get_conversation("alice", chat)
    assert (view.summary.title, view.summary.pinned) == ("What is Rust?", False)


async def test_a_deleted_conversation_is_gone_for_every_change() -> None:
    store, publisher = FakeStore(), FakePublisher()
    chat = await _chat(store)

    await services.delete("alice", chat, store=store, publisher=publisher)

    with pytest.raises(ConversationNotFound):
        await store.get_conversation("alice", chat)
    with pytest.raises(ConversationNotFound):
        await services.rename("alice", chat, "Again", store=store, publisher=publisher)
    assert [e.type for e in publisher.published] == ["conversation.deleted"]


async def test_a_branch_is_selected_only_by_a_message_of_the_conversation() -> None:
    store, publisher = FakeStore(), FakePublisher()
    chat, other = await _chat(store), await _chat(store)
    first = await store.get_conversation("alice", chat)
    elsewhere = (await store.get_conversation("alice", other)).messages[0].id

    with pytest.raises(InvalidInput):
        await services.select_branch("alice", chat, elsewhere, store=store, publisher=publisher)
    with pytest.raises(InvalidInput):
        await services.select_branch("alice", chat, new_id(), store=store, publisher=publisher)
    assert publisher.published == []

    root = first.messages[0].id
    view = await services.select_branch("alice", chat, root, store=store, publisher=publisher)
    assert (view.current_leaf_id, view.current_path) == (root, (root,))


async def test_a_broker_failure_changes_nothing() -> None:
    store, publisher = FakeStore(), FakePublisher()
    chat = await _chat(store)
    applied = len(store.applied)
    publisher.down = True

    with pytest.raises(ConnectionError):
        await services.rename("alice", chat, "Lost", store=store, publisher=publisher)

    assert len(store.applied) == applied
    assert (await store.get_conversation("alice", chat)).summary.title == "What is Rust?"


async def test_replay_stores_each_event_once_and_skips_what_history_does_not_consume() -> None:
    first = prompt("alice", "hi")
    bodies = [first.to_json(), b"{not json", first.to_json(), finished(first, "hello").to_json()]

    async def stream() -> AsyncIterator[bytes]:
        for body in bodies:
            yield body

    store = FakeStore()
    report = await services.replay(stream(), target=store, batch=2)

    assert (report.events, report.stored, report.duplicates, report.skipped) == (4, 2, 1, 1)
    assert [m.content for m in (await store.get_conversation("alice", first.conversation_id)).messages] == [
        "hi",
        "hello",
    ]
