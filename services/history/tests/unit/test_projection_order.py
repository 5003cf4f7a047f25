"""The projection depends on the set of events only, in memory: every order of a small
set gives the same rows, and so do duplicated and reordered deliveries of a realistic
log (`tests.event_log`, as `tests/integration/test_redelivery_order.py` does on the
databases). A delete is final, whenever the events about it happened."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from parley_contracts import (
    BranchSelected,
    ConversationDeleted,
    ConversationMoved,
    ConversationPinned,
    ConversationRenamed,
    DomainEvent,
    ProjectCreated,
    ProjectDeleted,
    PromptSubmitted,
    new_id,
)
from parley_history import projector
from tests.event_log import EventLog, deliveries
from tests.events import T0, after, failed, finished, prompt
from tests.fakes import FakeProjectionStore, Rows


async def _rows(events: Sequence[DomainEvent]) -> Rows:
    store = FakeProjectionStore()
    for event in events:
        await projector.project(store, event)
    return store.rows()


def _chat() -> tuple[PromptSubmitted, list[DomainEvent]]:
    """A conversation's life: prompt, answer, rename, pin, a follow-up that fails, a branch
    selection back to the first answer, a move into a project (then deleted)."""
    p1 = prompt("alice", "Tell a joke", at=T0, system="Be funny")
    p2 = prompt("alice", "Another", conversation_id=p1.conversation_id, parent_id=p1.message_id, at=after(10))
    project = ProjectCreated(user_id="alice", project_id=new_id(), name="Jokes", occurred_at=after(2))
    on = {"user_id": "alice", "conversation_id": p1.conversation_id}
    return p1, [
        p1,
        finished(p1, "Joke A"),
        ConversationRenamed(**on, title="Jokes", occurred_at=after(5)),
        ConversationPinned(**on, pinned=True, occurred_at=after(6)),
        p2,
        failed(p2),
        BranchSelected(**on, leaf_id=p1.message_id, occurred_at=after(12)),
        project,
        ConversationMoved(**on, project_id=project.project_id, occurred_at=after(7)),
        ProjectDeleted(user_id="alice", project_id=project.project_id, occurred_at=after(20)),
    ]


@pytest.mark.parametrize("picked", [(0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (0, 4, 7, 8, 9), (1, 2, 0, 6, 9)])
async def test_every_order_of_a_small_set_gives_the_same_rows(picked: tuple[int, ...]) -> None:
    """Each set holds the first prompt: until it comes, `updated_at` is the time of the
    event that created the row (not shown anyway: nothing lists a conversation without it)."""
    chat = _chat()[1]
    events = [chat[i] for i in picked]
    expected = await _rows(events)
    for order in itertools.permutations(events):
        assert await _rows(order) == expected, [e.type for e in order]


async def test_a_seeded_shuffle_of_a_whole_conversation_gives_the_same_rows() -> None:
    first, events = _chat()
    expected = await _rows(events)
    conversation = expected.conversations[first.conversation_id]
    assert (conversation.title, conversation.pinned, conversation.project_id) == ("Jokes", True, None)
    assert conversation.current_leaf_id == first.message_id
    for seed in range(30):
        shuffled, _ = deliveries(events, seed=seed, duplicate_share=0.3, window=None)
        assert await _rows(shuffled) == expected, seed


async def test_a_delete_is_final_whenever_the_rest_happened() -> None:
    first, chat = _chat()
    delete = ConversationDeleted(user_id="alice", conversation_id=first.conversation_id, occurred_at=after(8))
    events = [*chat, delete]
    expected = await _rows(events)
    tombstone = expected.conversations[delete.conversation_id]
    assert (tombstone.created_at, tombstone.updated_at, tombstone.deleted_at) == (T0, after(8), after(8))
    assert (tombstone.title, tombstone.fallback_title, tombstone.model, tombstone.pinned) == (
        None,
        None,
        None,
        False,
    )
    assert tombstone.versions.by_field == {}
    assert [m for m in expected.messages.values() if m.conversation_id == delete.conversation_id] == []
    for seed in range(30):
        shuffled, _ = deliveries(events, seed=seed, duplicate_share=0.3, window=None)
        assert await _rows(shuffled) == expected, seed
    twice = delete.model_copy(update={"event_id": new_id(), "occurred_at": after(3)})
    assert (await _rows([*events, twice])).conversations[delete.conversation_id].deleted_at == after(3)


@pytest.mark.parametrize(("window", "seed"), [(6, 1), (None, 2), (None, 3), (1, 4)])
async def test_duplicated_and_reordered_deliveries_of_a_realistic_log_give_the_same_rows(
    window: int | None, seed: int
) -> None:
    events = EventLog(seed, conversations=30).events
    expected = await _rows(events)
    assert len(expected.conversations) == 30
    shuffled, duplicates = deliveries(events, seed=seed, duplicate_share=0.25, window=window)
    assert duplicates > 0
    if window == 1:
        shuffled.reverse()
    assert await _rows(shuffled) == expected
