"""The conversation projection rules, in memory (`projector` on `FakeProjectionStore`):
the same rules `tests/integration/test_repository.py` checks on the databases."""

from __future__ import annotations

from parley_contracts import (
    BranchSelected,
    CompletionCancelled,
    ConversationPinned,
    ConversationRenamed,
    DomainEvent,
    PromptSubmitted,
)
from parley_history import projector
from parley_history.domain.answers import title_message_id
from parley_history.domain.conversations import TitleRequest
from parley_history.ports import ProjectionStore
from tests.events import T0, after, failed, finished, prompt
from tests.fakes import FakeProjectionStore


async def _apply(store: ProjectionStore, *events: DomainEvent) -> list[TitleRequest | None]:
    return [await projector.project(store, event) for event in events]


def _follow_up(p: PromptSubmitted, text: str, *, at: float, regenerate: bool = False) -> PromptSubmitted:
    """The next prompt in `p`'s conversation (after its answer), or a regenerate of `p`."""
    if regenerate:
        again = prompt(
            p.user_id, text, conversation_id=p.conversation_id, parent_id=p.parent_id, at=after(at)
        )
        return again.model_copy(update={"prompt_message_id": p.prompt_message_id})
    return prompt(p.user_id, text, conversation_id=p.conversation_id, parent_id=p.message_id, at=after(at))


async def test_a_prompt_and_its_answer_build_a_conversation() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "What is the capital of France?", system="Be brief", at=T0)
    [none, request] = await _apply(store, p, finished(p, "Paris."))
    assert none is None
    conversation = store.conversations[p.conversation_id]
    assert (conversation.fallback_title, conversation.system_prompt) == (
        "What is the capital of France?",
        "Be brief",
    )
    assert (conversation.model, conversation.current_leaf_id) == ("test-model", p.message_id)
    assert (conversation.created_at, conversation.updated_at) == (T0, after(1))
    question, answer = store.messages[p.prompt_message_id], store.messages[p.message_id]
    assert (question.role, question.content, question.parent_id) == (
        "user",
        "What is the capital of France?",
        None,
    )
    assert (answer.status, answer.content, answer.parent_id) == ("finished", "Paris.", p.prompt_message_id)
    assert (answer.prompt_tokens, answer.completion_tokens, answer.ttft_ms, answer.tokens_per_s) == (
        7,
        1,
        12.5,
        48.0,
    )
    assert request == TitleRequest(
        conversation_id=p.conversation_id,
        user_id="alice",
        model="test-model",
        message_id=title_message_id(p.conversation_id),
        prompt="What is the capital of France?",
        answer="Paris.",
    )


async def test_an_event_applied_twice_changes_nothing_the_second_time() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "hello", at=T0)
    events: list[DomainEvent] = [
        p,
        finished(p, "hi"),
        ConversationRenamed(
            user_id="alice", conversation_id=p.conversation_id, title="Mine", occurred_at=after(2)
        ),
        ConversationPinned(
            user_id="alice", conversation_id=p.conversation_id, pinned=True, occurred_at=after(3)
        ),
        BranchSelected(
            user_id="alice", conversation_id=p.conversation_id, leaf_id=p.message_id, occurred_at=after(4)
        ),
    ]
    for event in events:
        await projector.project(store, event)
        before = store.rows()
        assert await projector.project(store, event) is None
        assert store.rows() == before, event.type


async def test_an_outcome_before_its_prompt_is_kept_and_attached_when_the_prompt_comes() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "hello", at=T0)
    assert await _apply(store, finished(p, "hi there")) == [None]
    early = store.messages[p.message_id]
    assert (early.purpose, early.parent_id, early.status, early.content) == (
        None,
        None,
        "finished",
        "hi there",
    )
    assert store.conversations[p.conversation_id].fallback_title is None  # not listed until its prompt
    [request] = await _apply(store, p)
    answer = store.messages[p.message_id]
    assert (answer.purpose, answer.parent_id, answer.created_at) == ("chat", p.prompt_message_id, T0)
    assert request is not None
    assert (request.prompt, request.answer) == ("hello", "hi there")
    assert store.conversations[p.conversation_id].updated_at == after(1)


async def test_a_rename_before_the_first_prompt_stays_and_no_title_is_asked_for() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "Explain Rust ownership", at=T0)
    rename = ConversationRenamed(
        user_id="alice", conversation_id=p.conversation_id, title="Mine", occurred_at=after(5)
    )
    assert await _apply(store, rename, p, finished(p, "Ownership means...")) == [None, None, None]
    conversation = store.conversations[p.conversation_id]
    assert (conversation.title, conversation.title_source) == ("Mine", "user")
    assert conversation.fallback_title == "Explain Rust ownership"
    assert conversation.title_message_id == title_message_id(p.conversation_id)  # the first answer is marked
    assert conversation.created_at == T0


async def test_a_title_is_asked_for_once_after_the_first_finished_answer_only() -> None:
    store = FakeProjectionStore()
    p1 = prompt("alice", "first", at=T0)
    p2 = _follow_up(p1, "second", at=5)
    empty = _follow_up(p1, "again", at=10, regenerate=True)
    requests = await _apply(store, p1, failed(p1), empty, finished(empty, "  "), p2)
    assert requests == [None] * 5  # failed, or finished without text
    [request] = await _apply(store, finished(p2, "an answer"))
    assert request is not None
    assert request.prompt == "second"
    p3 = _follow_up(p2, "third", at=20)
    assert await _apply(store, p3, finished(p3, "another answer")) == [None, None]


async def test_a_title_prompt_and_its_answer_title_the_conversation_in_either_order() -> None:
    for answer_first in (False, True):
        store = FakeProjectionStore()
        p = prompt("alice", "Explain Rust ownership", at=T0)
        [_, request] = await _apply(store, p, finished(p, "Ownership means..."))
        assert request is not None
        ask = prompt("alice", "title?", conversation_id=p.conversation_id, at=after(2)).model_copy(
            update={
                "purpose": "title",
                "message_id": request.message_id,
                "prompt_message_id": request.message_id,
            }
        )
        titled = finished(ask, '"Rust Ownership"')
        assert await _apply(store, *((titled, ask) if answer_first else (ask, titled))) == [None, None]
        conversation = store.conversations[p.conversation_id]
        assert (conversation.title, conversation.title_source) == ("Rust Ownership", "model")
        assert store.messages[ask.message_id].purpose == "title"
        assert conversation.updated_at == after(1)  # a title is no message of the chat


async def test_a_user_rename_wins_over_the_models_title_whatever_their_order() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "hello", at=T0)
    ask = prompt("alice", "title?", conversation_id=p.conversation_id, at=after(2)).model_copy(
        update={"purpose": "title"}
    )
    rename = ConversationRenamed(
        user_id="alice", conversation_id=p.conversation_id, title="Mine", occurred_at=after(1)
    )
    await _apply(store, p, rename, ask, finished(ask, "Model title"))
    assert store.conversations[p.conversation_id].title == "Mine"


async def test_a_finished_answer_stays_as_its_user_saw_it() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "hello", at=T0)
    first, again = finished(p, "hi there", after_s=1), finished(p, "hello again", after_s=3)
    retry_failed = failed(p, after_s=4)
    await _apply(store, p, again, retry_failed, first)
    answer = store.messages[p.message_id]
    assert (answer.status, answer.content, answer.completed_at) == ("finished", "hi there", after(1))


async def test_of_two_unfinished_outcomes_the_latest_wins_and_a_finish_beats_both() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "hello", at=T0)
    stopped = CompletionCancelled(
        user_id="alice",
        conversation_id=p.conversation_id,
        message_id=p.message_id,
        model=p.model,
        text="hi th",
        occurred_at=after(3),
    )
    await _apply(store, p, stopped, failed(p, after_s=2))
    answer = store.messages[p.message_id]
    assert (answer.status, answer.content, answer.finish_reason) == ("cancelled", "hi th", "cancelled")
    await _apply(store, finished(p, "hi there", after_s=1))
    answer = store.messages[p.message_id]
    assert (answer.status, answer.error_code, answer.completed_at) == ("finished", None, after(1))


async def test_a_regenerate_answers_the_same_question_and_the_latest_branch_is_shown() -> None:
    store = FakeProjectionStore()
    p1 = prompt("alice", "Tell a joke", at=T0)
    again = _follow_up(p1, "Tell a joke", at=5, regenerate=True)
    await _apply(store, finished(again, "Joke B"), again, finished(p1, "Joke A"), p1)
    users = [m for m in store.messages.values() if m.role == "user"]
    assert [m.id for m in users] == [p1.prompt_message_id]  # no copy of the question
    assert store.messages[p1.prompt_message_id].created_at == T0
    assert store.messages[again.message_id].parent_id == p1.prompt_message_id
    assert store.messages[p1.message_id].parent_id == p1.prompt_message_id
    conversation = store.conversations[p1.conversation_id]
    assert conversation.current_leaf_id == again.message_id
    assert conversation.updated_at == after(6)


async def test_a_branch_selection_counts_if_it_is_the_latest() -> None:
    store = FakeProjectionStore()
    p1 = prompt("alice", "Tell a joke", at=T0)
    p2 = _follow_up(p1, "Another", at=10)

    def select(leaf: PromptSubmitted, at: float) -> BranchSelected:
        return BranchSelected(
            user_id="alice",
            conversation_id=p1.conversation_id,
            leaf_id=leaf.message_id,
            occurred_at=after(at),
        )

    await _apply(store, p1, p2, select(p1, 5))  # older than p2: p2 stays shown
    assert store.conversations[p1.conversation_id].current_leaf_id == p2.message_id
    await _apply(store, select(p1, 15))
    assert store.conversations[p1.conversation_id].current_leaf_id == p1.message_id
    # an unknown leaf is kept (its prompt may be on its way); another conversation's is not
    unknown = prompt("alice", "later", conversation_id=p1.conversation_id, at=after(30))
    await _apply(store, select(unknown, 20))
    assert store.conversations[p1.conversation_id].current_leaf_id == unknown.message_id
    other = prompt("alice", "elsewhere", at=T0)
    await _apply(store, other, select(other, 40))
    assert store.conversations[p1.conversation_id].current_leaf_id == unknown.message_id


async def test_a_regenerate_naming_another_conversations_message_does_not_link_to_it() -> None:
    store = FakeProjectionStore()
    theirs = prompt("bob", "Secret question", at=T0)
    mine = prompt("alice", "Hello", at=after(1)).model_copy(
        update={"prompt_message_id": theirs.prompt_message_id}
    )
    await _apply(store, theirs, mine, finished(mine, "Hi"))
    assert store.messages[mine.message_id].parent_id is None
    assert store.messages[theirs.prompt_message_id].content == "Secret question"
    assert store.messages[theirs.prompt_message_id].conversation_id == theirs.conversation_id


async def test_another_users_events_change_nothing() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "secret", at=T0)
    await _apply(store, p, finished(p, "answer"))
    before = store.rows()
    intruder = prompt("bob", "intrude", conversation_id=p.conversation_id, at=after(-5))
    await _apply(
        store,
        intruder,
        finished(intruder, "mine now"),
        ConversationRenamed(user_id="bob", conversation_id=p.conversation_id, title="Bob's"),
        ConversationPinned(user_id="bob", conversation_id=p.conversation_id, pinned=True),
    )
    assert store.rows() == before


async def test_an_answer_naming_a_message_of_another_conversation_changes_nothing() -> None:
    store = FakeProjectionStore()
    p = prompt("alice", "hello", at=T0)
    elsewhere = prompt("alice", "elsewhere", at=T0)
    await _apply(store, p, elsewhere)
    before = store.rows()
    await _apply(store, finished(p, "hi").model_copy(update={"conversation_id": elsewhere.conversation_id}))
    assert store.rows().messages == before.messages
