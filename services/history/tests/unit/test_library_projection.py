"""Projects, moves between them and saved prompts, in memory (`projector` on
`FakeProjectionStore`): the rules `tests/integration/test_library_repository.py`
checks on the databases."""

from __future__ import annotations

from parley_contracts import ConversationMoved, DomainEvent, ProjectCreated, PromptSubmitted, new_id
from parley_history import projector
from parley_history.domain.library_projection import resolve_project
from parley_history.domain.state import ProjectState
from tests.events import (
    T0,
    after,
    moved,
    project_created,
    project_deleted,
    project_updated,
    prompt,
    prompt_deleted,
    prompt_saved,
    prompt_shared,
)
from tests.fakes import FakeProjectionStore


async def _apply(store: FakeProjectionStore, *events: DomainEvent) -> None:
    for event in events:
        await projector.project(store, event)


def _move(user: str, chat: PromptSubmitted, into: ProjectCreated | None, *, at: float) -> ConversationMoved:
    return moved(user, chat.conversation_id, into.project_id if into else None, at=after(at))


def test_where_an_event_files_a_conversation() -> None:
    alices = ProjectState(id=new_id(), user_id="alice", name="P", created_at=T0, updated_at=T0)
    gone = ProjectState(id=new_id(), user_id="alice", name="", created_at=T0, updated_at=T0, deleted_at=T0)
    warnings: list[str] = []
    assert resolve_project(None, "alice", None, warnings) == (True, None)
    unknown = new_id()
    assert resolve_project(None, "alice", unknown, warnings) == (True, unknown)  # its creation may come later
    assert resolve_project(alices, "alice", alices.id, warnings) == (True, alices.id)
    assert resolve_project(gone, "alice", gone.id, warnings) == (True, None)
    assert warnings == []
    assert resolve_project(alices, "mallory", alices.id, warnings) == (False, None)
    assert len(warnings) == 1


async def test_project_settings_go_to_the_latest_event_and_created_at_to_the_earliest() -> None:
    store = FakeProjectionStore()
    created = project_created("alice", "P", model="m", at=after(1))
    updated = project_updated("alice", created.project_id, "P2", system_prompt="S", at=after(5))
    stale = project_updated("alice", created.project_id, "old", at=after(3))
    await _apply(store, updated, stale, created)
    project = store.projects[created.project_id]
    assert (project.name, project.system_prompt, project.model) == ("P2", "S", None)
    assert (project.created_at, project.updated_at) == (after(1), after(5))


async def test_another_users_project_events_change_nothing() -> None:
    store = FakeProjectionStore()
    chat = prompt("alice", "hello", at=T0)
    created = project_created("alice", "P", at=T0)
    await _apply(store, chat, created, _move("alice", chat, created, at=1))
    before = store.rows()
    mine = project_created("mallory", "M", at=T0)
    await _apply(
        store,
        project_updated("mallory", created.project_id, "Mine"),
        project_created("mallory", "Mine too", project_id=created.project_id),
        project_deleted("mallory", created.project_id),
        _move("mallory", chat, mine, at=2),
    )
    assert store.projects[created.project_id] == before.projects[created.project_id]
    assert store.conversations == before.conversations
    await _apply(store, mine, _move("alice", chat, mine, at=3))  # into mallory's: refused
    assert store.conversations[chat.conversation_id].project_id == created.project_id


async def test_the_latest_move_wins_whatever_the_order() -> None:
    for reverse in (False, True):
        store = FakeProjectionStore()
        chat = prompt("alice", "hello", at=T0)
        one, two = project_created("alice", "one", at=T0), project_created("alice", "two", at=T0)
        moves = [
            _move("alice", chat, one, at=1),
            _move("alice", chat, two, at=2),
            _move("alice", chat, None, at=3),
        ]
        await _apply(store, chat, one, two, *(reversed(moves) if reverse else moves))
        assert store.conversations[chat.conversation_id].project_id is None
        await _apply(store, _move("alice", chat, one, at=4))
        assert store.conversations[chat.conversation_id].project_id == one.project_id


async def test_a_move_and_a_project_delete_give_the_same_rows_in_either_order() -> None:
    results = []
    chat = prompt("alice", "hello", at=T0)
    old, new = project_created("alice", "old", at=T0), project_created("alice", "new", at=T0)
    first_move, move = _move("alice", chat, old, at=1), _move("alice", chat, new, at=2)
    delete = project_deleted("alice", new.project_id, at=after(3))
    for last_two in ((move, delete), (delete, move)):
        store = FakeProjectionStore()
        await _apply(store, chat, old, new, first_move, *last_two)
        assert store.conversations[chat.conversation_id].project_id is None
        await _apply(store, project_updated("alice", new.project_id, "back"))
        deleted = store.projects[new.project_id]
        assert (deleted.name, deleted.deleted_at, deleted.versions.by_field) == ("", after(3), {})
        results.append(store.rows())
    assert results[0] == results[1]


async def test_a_deleted_projects_conversations_stay_in_no_project() -> None:
    store = FakeProjectionStore()
    created = project_created("alice", "P", at=T0)
    inside = prompt("alice", "in it", at=after(1)).model_copy(update={"project_id": created.project_id})
    await _apply(store, created, inside)
    assert store.conversations[inside.conversation_id].project_id == created.project_id
    first = project_deleted("alice", created.project_id, at=after(5))
    second = project_deleted("alice", created.project_id, at=after(3))
    await _apply(store, first, second)
    assert store.conversations[inside.conversation_id].project_id is None
    assert store.conversations[inside.conversation_id].fallback_title == "in it"
    assert store.projects[created.project_id].deleted_at == after(3)  # deleted twice: the first counts


async def test_a_chat_started_in_a_project_is_filed_there_only_if_the_project_is_the_users() -> None:
    store = FakeProjectionStore()
    mine, theirs = project_created("alice", "Mine", at=T0), project_created("bob", "Bob's", at=T0)
    inside = prompt("alice", "in my project", at=after(1)).model_copy(update={"project_id": mine.project_id})
    sneaky = prompt("alice", "in bob's", at=after(1)).model_copy(update={"project_id": theirs.project_id})
    early = prompt("alice", "before bob's project", at=after(1)).model_copy(
        update={"project_id": theirs.project_id}
    )
    await _apply(store, mine, theirs, inside, sneaky, early)
    assert store.conversations[inside.conversation_id].project_id == mine.project_id
    assert store.conversations[sneaky.conversation_id].project_id is None
    # filed before the project is known, taken out when it turns out to be another user's
    store = FakeProjectionStore()
    await _apply(store, early)
    assert store.conversations[early.conversation_id].project_id == theirs.project_id
    await _apply(store, theirs)
    assert store.conversations[early.conversation_id].project_id is None


async def test_a_move_before_the_first_prompt_decides_the_project() -> None:
    store = FakeProjectionStore()
    project = project_created("alice", "P", at=T0)
    chat = prompt("alice", "hello", at=after(1)).model_copy(update={"project_id": project.project_id})
    await _apply(store, project, _move("alice", chat, None, at=5), chat)
    assert store.conversations[chat.conversation_id].project_id is None


async def test_saved_prompt_content_goes_to_the_latest_event() -> None:
    store = FakeProjectionStore()
    saved = prompt_saved("alice", "N", "T", tags=("a", "b"), at=after(1))
    edit = prompt_saved("alice", "N2", "T2", tags=("b", "c"), prompt_id=saved.prompt_id, at=after(2))
    await _apply(store, edit, saved)
    row = store.saved_prompts[saved.prompt_id]
    assert (row.name, row.text, row.tags, row.shared) == ("N2", "T2", ",b,c,", False)
    assert (row.created_at, row.updated_at) == (after(1), after(2))


async def test_only_the_owner_shares_and_anyone_named_as_owner_unshares() -> None:
    store = FakeProjectionStore()
    saved = prompt_saved("alice", "N", "T", at=after(1))
    await _apply(
        store,
        saved,
        prompt_shared("bob", saved.prompt_id, owner="alice", on=True),
        prompt_saved("bob", "bob's now", "x", prompt_id=saved.prompt_id),
    )
    row = store.saved_prompts[saved.prompt_id]
    assert (row.name, row.shared) == ("N", False)
    share = prompt_shared("alice", saved.prompt_id, owner="alice", on=True, at=after(2))
    unshare = prompt_shared("root", saved.prompt_id, owner="alice", on=False, at=after(3))
    await _apply(store, unshare, share)
    assert store.saved_prompts[saved.prompt_id].shared is False


async def test_a_deleted_saved_prompt_stays_deleted() -> None:
    store = FakeProjectionStore()
    saved = prompt_saved("alice", "N", "T", at=after(1))
    delete = prompt_deleted("alice", saved.prompt_id, at=after(2))
    late = prompt_saved("alice", "N2", "T2", prompt_id=saved.prompt_id, at=after(9))
    late_share = prompt_shared("alice", saved.prompt_id, owner="alice", on=True)
    await _apply(store, delete, late, saved, late_share)
    row = store.saved_prompts[saved.prompt_id]
    assert (row.name, row.text, row.tags, row.shared) == ("", "", "", False)
    assert (row.created_at, row.deleted_at, row.versions.by_field) == (after(1), after(2), {})
