"""The store on both PostgreSQL and SQLite: projection, idempotency, branches,
out-of-order events, titles, listing, search, ownership, the audit chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from parley_contracts import ConversationDeleted, ConversationRenamed, DomainEvent, PromptSubmitted
from parley_history import services
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.domain.audit import ChainReport
from parley_history.domain.conversations import Applied
from parley_history.domain.errors import ConversationNotFound
from tests.events import failed, finished, prompt
from tests.fakes import FakePublisher


async def _apply(store: SqlHistoryStore, event: DomainEvent) -> Applied:
    return await store.apply(event, event.to_json().decode())


async def test_prompt_then_answer_builds_a_conversation(store: SqlHistoryStore) -> None:
    p = prompt("alice", "What is the capital of France?", system="Be brief")
    await _apply(store, p)
    view = await store.get_conversation("alice", p.conversation_id)
    assert view.summary.title == "What is the capital of France?"
    assert [(m.role, m.status) for m in view.messages] == [("user", "finished"), ("assistant", "pending")]
    assert view.system_prompt == "Be brief"

    applied = await _apply(store, finished(p, "Paris."))
    view = await store.get_conversation("alice", p.conversation_id)
    answer = view.messages[1]
    assert (answer.content, answer.finish_reason, answer.model) == ("Paris.", "stop", "test-model")
    assert (answer.prompt_tokens, answer.completion_tokens, answer.ttft_ms, answer.tokens_per_s) == (
        7,
        1,
        12.5,
        48.0,
    )
    assert answer.parent_id == p.prompt_message_id
    assert view.current_path == (p.prompt_message_id, p.message_id)
    assert view.summary.updated_at == p.occurred_at + timedelta(seconds=1)
    assert applied.title_request is not None
    assert applied.title_request.answer == "Paris."


async def test_a_redelivered_event_changes_nothing(store: SqlHistoryStore) -> None:
    p = prompt("alice", "hello")
    done = finished(p, "hi")
    assert not (await _apply(store, p)).duplicate
    assert not (await _apply(store, done)).duplicate
    assert (await _apply(store, p)).duplicate
    again = await _apply(store, done)
    assert again.duplicate
    assert again.title_request is None
    assert len((await store.get_conversation("alice", p.conversation_id)).messages) == 2
    assert await store.event_count() == 2


async def test_an_outcome_before_its_prompt(store: SqlHistoryStore) -> None:
    p = prompt("alice", "hello")
    assert (await _apply(store, finished(p, "hi there"))).title_request is None
    with pytest.raises(ConversationNotFound):  # no prompt seen yet: nothing to show
        await store.get_conversation("alice", p.conversation_id)
    applied = await _apply(store, p)
    view = await store.get_conversation("alice", p.conversation_id)
    assert [(m.role, m.content, m.status) for m in view.messages] == [
        ("user", "hello", "finished"),
        ("assistant", "hi there", "finished"),
    ]
    assert view.messages[1].parent_id == p.prompt_message_id
    assert applied.title_request is not None


@pytest.mark.parametrize("first_arrives_first", [True, False])
async def test_an_answer_finished_twice_keeps_the_one_its_user_saw(
    store: SqlHistoryStore, first_arrives_first: bool
) -> None:
    """The request came back after its outcome was published (a lost confirm) and was
    answered again: the gateway forwarded the first `done` only, so that one stays."""
    p = prompt("alice", "hello")
    first, again = finished(p, "hi there", after_s=1), finished(p, "hello again", after_s=3)
    await _apply(store, p)
    for event in (first, again) if first_arrives_first else (again, first):
        await _apply(store, event)
    answer = (await store.get_conversation("alice", p.conversation_id)).messages[1]
    assert (answer.content, answer.completion_tokens) == ("hi there", 2)


async def _answered_joke(store: SqlHistoryStore) -> PromptSubmitted:
    """Alice's first prompt of a conversation, answered."""
    p1 = prompt("alice", "Tell a joke")
    await _apply(store, p1)
    await _apply(store, finished(p1, "Joke A"))
    return p1


def _asked_again(p1: PromptSubmitted) -> PromptSubmitted:
    """`p1`'s text again in its conversation, 5 s later, as a new first prompt."""
    return prompt(
        p1.user_id,
        "Tell a joke",
        conversation_id=p1.conversation_id,
        at=p1.occurred_at + timedelta(seconds=5),
    )


async def test_regenerate_and_edit_branch(store: SqlHistoryStore) -> None:
    p1 = await _answered_joke(store)
    # regenerate: same parent (none), a new prompt; edit: another text
    p2 = _asked_again(p1)
    await _apply(store, p2)
    await _apply(store, failed(p2))
    p3 = prompt(
        "alice",
        "Another",
        conversation_id=p1.conversation_id,
        parent_id=p1.message_id,
        at=p1.occurred_at + timedelta(seconds=9),
    )
    await _apply(store, p3)
    view = await store.get_conversation("alice", p1.conversation_id)
    by_id = {m.id: m for m in view.messages}
    assert by_id[p1.message_id].children == (p3.prompt_message_id,)
    assert by_id[p2.message_id].status == "failed"
    assert by_id[p2.message_id].error_code == "provider_error"
    roots = [m.id for m in view.messages if m.parent_id is None]
    assert roots == [p1.prompt_message_id, p2.prompt_message_id]
    assert view.current_path == (p1.prompt_message_id, p1.message_id, p3.prompt_message_id, p3.message_id)


async def test_a_regenerate_answers_the_same_user_message_again(store: SqlHistoryStore) -> None:
    p1 = await _answered_joke(store)
    again = _asked_again(p1).model_copy(update={"prompt_message_id": p1.prompt_message_id})
    await _apply(store, again)
    await _apply(store, finished(again, "Joke B"))
    view = await store.get_conversation("alice", p1.conversation_id)
    by_id = {m.id: m for m in view.messages}
    assert [m.role for m in view.messages].count("user") == 1  # no copy of the question
    assert set(by_id[p1.prompt_message_id].children) == {p1.message_id, again.message_id}
    assert view.current_path == (p1.prompt_message_id, again.message_id)


async def test_a_regenerate_naming_another_conversations_message_does_not_link_to_it(
    store: SqlHistoryStore,
) -> None:
    theirs = prompt("bob", "Secret question")
    await _apply(store, theirs)
    mine = prompt("alice", "Hello").model_copy(update={"prompt_message_id": theirs.prompt_message_id})
    await _apply(store, mine)
    await _apply(store, finished(mine, "Hi"))
    view = await store.get_conversation("alice", mine.conversation_id)
    assert [(m.role, m.parent_id) for m in view.messages] == [("assistant", None)]
    bobs = await store.get_conversation("bob", theirs.conversation_id)
    assert [m.content for m in bobs.messages if m.role == "user"] == ["Secret question"]


async def test_model_title_then_user_rename_wins(store: SqlHistoryStore) -> None:
    publisher = FakePublisher()
    p = prompt("alice", "Explain Rust ownership please in detail")
    for event in (p, finished(p, "Ownership means...")):
        await services.handle_event(event.to_json(), store=store, publisher=publisher, title_reply_to="t")
    [title_prompt] = publisher.published
    assert isinstance(title_prompt, PromptSubmitted)
    assert title_prompt.purpose == "title"
    # the title answer arrives (before its prompt, even), and does not show up as a message
    await services.handle_event(
        finished(title_prompt, '"Rust Ownership"').to_json(),
        store=store,
        publisher=publisher,
        title_reply_to="t",
    )
    await services.handle_event(title_prompt.to_json(), store=store, publisher=publisher, title_reply_to="t")
    view = await store.get_conversation("alice", p.conversation_id)
    assert view.summary.title == "Rust Ownership"
    assert len(view.messages) == 2
    assert len(publisher.published) == 1  # asked once
    await _apply(store, ConversationRenamed(user_id="alice", conversation_id=p.conversation_id, title="Mine"))
    assert (await store.get_conversation("alice", p.conversation_id)).summary.title == "Mine"


async def test_other_users_and_deleted_conversations_are_not_found(store: SqlHistoryStore) -> None:
    p = prompt("alice", "secret")
    await _apply(store, p)
    with pytest.raises(ConversationNotFound):
        await store.get_conversation("bob", p.conversation_id)
    # bob cannot write into alice's conversation through events either
    await _apply(store, prompt("bob", "intrude", conversation_id=p.conversation_id))
    assert len((await store.get_conversation("alice", p.conversation_id)).messages) == 2
    with pytest.raises(ConversationNotFound):
        await store.set_pinned("bob", p.conversation_id, True)
    await _apply(store, ConversationDeleted(user_id="alice", conversation_id=p.conversation_id))
    with pytest.raises(ConversationNotFound):
        await store.get_conversation("alice", p.conversation_id)
    await _apply(store, finished(p, "late answer"))  # changes nothing
    assert (await store.list_conversations("alice", query=None, limit=10, cursor=None)).items == ()


async def test_list_newest_first_with_cursor_and_search(store: SqlHistoryStore) -> None:
    base = prompt("alice", "x").occurred_at
    topics = [
        "Paris travel tips",
        "Python asyncio question",
        "Baking sourdough bread",
        "Rust borrow checker",
        "Paris museums",
    ]
    prompts = []
    for i, topic in enumerate(topics):
        p = prompt("alice", topic, at=base + timedelta(minutes=i))
        prompts.append(p)
        await _apply(store, p)
        await _apply(store, finished(p, f"answer about {topic.split()[-1]} number{i}"))
    await _apply(store, prompt("bob", "Paris for bob", at=base))

    seen, cursor = [], None
    while True:
        page = await store.list_conversations("alice", query=None, limit=2, cursor=cursor)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        from parley_history.domain.conversations import Cursor

        cursor = Cursor.decode(page.next_cursor)
    assert seen == [p.conversation_id for p in reversed(prompts)]

    paris = await store.list_conversations("alice", query="paris", limit=10, cursor=None)
    assert {item.id for item in paris.items} == {prompts[0].conversation_id, prompts[4].conversation_id}
    by_answer = await store.list_conversations("alice", query="number3", limit=10, cursor=None)
    assert [item.id for item in by_answer.items] == [prompts[3].conversation_id]
    assert (
        await store.list_conversations("alice", query="nothing-like-this", limit=10, cursor=None)
    ).items == ()


async def test_pin(store: SqlHistoryStore) -> None:
    p = prompt("alice", "pin me")
    await _apply(store, p)
    await store.set_pinned("alice", p.conversation_id, True)
    assert (await store.get_conversation("alice", p.conversation_id)).summary.pinned


async def test_verify_names_a_row_edited_behind_the_services_back(store: SqlHistoryStore) -> None:
    events: list[DomainEvent] = []
    for i in range(4):
        p = prompt("alice", f"q{i}")
        events += [p, finished(p, f"a{i}")]
    for event in events:
        await _apply(store, event)
    assert await store.verify() == ChainReport(8, None)

    async with store.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # the table refuses updates (append-only trigger) unless triggers are bypassed
            with pytest.raises(Exception, match="append-only"):
                async with connection.begin_nested():
                    await connection.execute(text("UPDATE audit_log SET user_id = 'mallory' WHERE seq = 5"))
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text("UPDATE audit_log SET body = replace(body, 'q2', 'q9') WHERE seq = 5"))
    report = await store.verify()
    assert report.checked == 4
    assert report.broken is not None
    assert report.broken.seq == 5
    assert report.broken.event_id == events[4].event_id


async def test_a_batch_stores_each_event_once(store: SqlHistoryStore) -> None:
    p = prompt("alice", "batch")
    done = finished(p, "ok")
    await _apply(store, p)
    items = [(e, e.to_json().decode()) for e in (p, done, done)]
    assert [a.duplicate for a in await store.apply_batch(items)] == [True, False, True]
    assert await store.event_count() == 2
    assert await store.verify() == ChainReport(2, None)
