"""Projects, moves between them and saved prompts, in memory (`projector` on
`FakeProjectionStore`): the rules `tests/integration/test_library_repository.py`
checks on the databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parley_contracts import (
    ConversationMoved,
    DomainEvent,
    ProjectCreated,
    ProjectDeleted,
    ProjectUpdated,
    PromptDeleted,
    PromptSaved,
    PromptShared,
    new_id,
)
from parley_history import projector
from parley_history.domain.library_projection import resolve_project
from parley_history.domain.state import ProjectState
from tests.events import prompt
from tests.fakes import FakeProjectionStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _apply(store: FakeProjectionStore, *events: DomainEvent) -> None:
    for event in events:
        await projector.project(store, event)


def _created(user: str, name: str, *, at: float = 0) -> ProjectCreated:
    return ProjectCreated(user_id=user, project_id=new_id(), name=name, occurred_at=_at(at))


def _move(user: str, conversation: object, project: object, *, at: float) -> ConversationMoved:
    return ConversationMoved(
        user_id=user,
        conversation_id=getattr(conversation, "conversation_id"),  # noqa: B009
        project_id=getattr(project, "project_id", None),
        occurred_at=_at(at),
    )


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
    created = ProjectCreated(user_id="alice", project_id=new_id(), name="P", model="m", occurred_at=_at(1))
    updated = ProjectUpdated(
        user_id="alice", project_id=created.project_id, name="P2", system_prompt="S", occurred_at=_at(5)
    )
    stale = ProjectUpdated(user_id="alice", project_id=created.project_id, name="old", occurred_at=_at(3))
    await _apply(store, updated, stale, created)
    project = store.projects[created.project_id]
    assert (project.name, project.system_prompt, project.model) == ("P2", "S", None)
    assert (project.created_at, project.updated_at) == (_at(1), _at(5))


async def test_another_users_project_events_change_nothing() -> None:
    store = FakeProjectionStore()
    chat = prompt("alice", "hello", at=T0)
    created = _created("alice", "P")
    await _apply(store, chat, created, _move("alice", chat, created, at=1))
    before = store.rows()
    mine = _created("mallory", "M")
    await _apply(
        store,
        ProjectUpdated(user_id="mallory", project_id=created.project_id, name="Mine"),
        ProjectCreated(user_id="mallory", project_id=created.project_id, name="Mine too"),
        ProjectDeleted(user_id="mallory", project_id=created.project_id),
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
        one, two = _created("alice", "one"), _created("alice", "two")
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
    old, new = _created("alice", "old"), _created("alice", "new")
    first_move, move = _move("alice", chat, old, at=1), _move("alice", chat, new, at=2)
    delete = ProjectDeleted(user_id="alice", project_id=new.project_id, occurred_at=_at(3))
    for last_two in ((move, delete), (delete, move)):
        store = FakeProjectionStore()
        await _apply(store, chat, old, new, first_move, *last_two)
        assert store.conversations[chat.conversation_id].project_id is None
        await _apply(store, ProjectUpdated(user_id="alice", project_id=new.project_id, name="back"))
        deleted = store.projects[new.project_id]
        assert (deleted.name, deleted.deleted_at, deleted.versions.by_field) == ("", _at(3), {})
        results.append(store.rows())
    assert results[0] == results[1]


async def test_a_deleted_projects_conversations_stay_in_no_project() -> None:
    store = FakeProjectionStore()
    created = _created("alice", "P")
    inside = prompt("alice", "in it", at=_at(1)).model_copy(update={"project_id": created.project_id})
    await _apply(store, created, inside)
    assert store.conversations[inside.conversation_id].project_id == created.project_id
    first = ProjectDeleted(user_id="alice", project_id=created.project_id, occurred_at=_at(5))
    second = ProjectDeleted(user_id="alice", project_id=created.project_id, occurred_at=_at(3))
    await _apply(store, first, second)
    assert store.conversations[inside.conversation_id].project_id is None
    assert store.conversations[inside.conversation_id].fallback_title == "in it"
    assert store.projects[created.project_id].deleted_at == _at(3)  # deleted twice: the first counts


async def test_a_chat_started_in_a_project_is_filed_there_only_if_the_project_is_the_users() -> None:
    store = FakeProjectionStore()
    mine, theirs = _created("alice", "Mine"), _created("bob", "Bob's")
    inside = prompt("alice", "in my project", at=_at(1)).model_copy(update={"project_id": mine.project_id})
    sneaky = prompt("alice", "in bob's", at=_at(1)).model_copy(update={"project_id": theirs.project_id})
    early = prompt("alice", "before bob's project", at=_at(1)).model_copy(
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
    project = _created("alice", "P")
    chat = prompt("alice", "hello", at=_at(1)).model_copy(update={"project_id": project.project_id})
    await _apply(store, project, _move("alice", chat, None, at=5), chat)
    assert store.conversations[chat.conversation_id].project_id is None


async def test_saved_prompt_content_goes_to_the_latest_event() -> None:
    store = FakeProjectionStore()
    saved = PromptSaved(
        user_id="alice", prompt_id=new_id(), name="N", text="T", tags=("a", "b"), occurred_at=_at(1)
    )
    edit = PromptSaved(
        user_id="alice", prompt_id=saved.prompt_id, name="N2", text="T2", tags=("b", "c"), occurred_at=_at(2)
    )
    await _apply(store, edit, saved)
    row = store.saved_prompts[saved.prompt_id]
    assert (row.name, row.text, row.tags, row.shared) == ("N2", "T2", ",b,c,", False)
    assert (row.created_at, row.updated_at) == (_at(1), _at(2))


async def test_only_the_owner_shares_and_anyone_named_as_owner_unshares() -> None:
    store = FakeProjectionStore()
    saved = PromptSaved(user_id="alice", prompt_id=new_id(), name="N", text="T", occurred_at=_at(1))
    await _apply(
        store,
        saved,
        PromptShared(user_id="bob", prompt_id=saved.prompt_id, owner_id="alice", shared=True),
        PromptSaved(user_id="bob", prompt_id=saved.prompt_id, name="bob's now", text="x"),
    )
    row = store.saved_prompts[saved.prompt_id]
    assert (row.name, row.shared) == ("N", False)
    share = PromptShared(
        user_id="alice", prompt_id=saved.prompt_id, owner_id="alice", shared=True, occurred_at=_at(2)
    )
    unshare = PromptShared(
        user_id="root", prompt_id=saved.prompt_id, owner_id="alice", shared=False, occurred_at=_at(3)
    )
    await _apply(store, unshare, share)
    assert store.saved_prompts[saved.prompt_id].shared is False


async def test_a_deleted_saved_prompt_stays_deleted() -> None:
    store = FakeProjectionStore()
    saved = PromptSaved(user_id="alice", prompt_id=new_id(), name="N", text="T", occurred_at=_at(1))
    delete = PromptDeleted(user_id="alice", prompt_id=saved.prompt_id, occurred_at=_at(2))
    late = PromptSaved(user_id="alice", prompt_id=saved.prompt_id, name="N2", text="T2", occurred_at=_at(9))
    late_share = PromptShared(user_id="alice", prompt_id=saved.prompt_id, owner_id="alice", shared=True)
    await _apply(store, delete, late, saved, late_share)
    row = store.saved_prompts[saved.prompt_id]
    assert (row.name, row.text, row.tags, row.shared) == ("", "", "", False)
    assert (row.created_at, row.deleted_at, row.versions.by_field) == (_at(1), _at(2), {})
