"""Replay: a few dozen conversations go through the live system (broker and
consumer); replaying the `audit.events` stream, and the audit log, into fresh
databases reproduces the projection row for row. Also the `verify` and
`replay` commands as processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from parley_contracts import (
    CompletionCancelled,
    ConversationDeleted,
    ConversationPinned,
    ConversationRenamed,
    DomainEvent,
    ProjectCreated,
    PromptSubmitted,
    Usage,
    UserRegistered,
    new_id,
)
from parley_history import services
from parley_history.adapters.database import migrate
from parley_history.adapters.rabbit import read_stream
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.domain.audit import ChainReport
from tests.conftest import AUDIT_SECRET, Databases, sql_store
from tests.events import (
    failed,
    finished,
    moved,
    project_created,
    project_deleted,
    project_updated,
    prompt,
    prompt_deleted,
    prompt_saved,
    prompt_shared,
)
from tests.integration.conftest import Broker, Running

CONVERSATIONS = 30


def _script() -> list[DomainEvent]:
    """Conversations with follow-ups, regenerations, failures, stops, renames, pins,
    deletes and outcomes that arrive before their prompts; projects, moves, and
    saved prompts shared, unshared and deleted."""
    projects = {f"user{u}": project_created(f"user{u}", f"Project {u}", model="m") for u in range(4)}
    events: list[DomainEvent] = [*projects.values()]
    for i in range(CONVERSATIONS):
        user = f"user{i % 4}"
        p = prompt(user, f"Question {i} about topic{i}", system="Be brief" if i % 3 == 0 else None)
        answer = finished(p, f"Answer {i}")
        events += [answer, p] if i % 5 == 0 else [p, answer]
        follow = _follow_up(p, f"Follow-up {i}", after_s=2)
        events.append(follow)
        if i % 4 == 1:
            events.append(failed(follow))
            retry = _follow_up(p, f"Follow-up {i}", after_s=4)
            events += [retry, finished(retry, f"Second try {i}")]
        elif i % 4 == 2:
            events.append(
                CompletionCancelled(
                    user_id=user,
                    conversation_id=p.conversation_id,
                    message_id=follow.message_id,
                    model=follow.model,
                    text="partial",
                    usage=Usage(prompt_tokens=3, completion_tokens=1),
                )
            )
        else:
            events.append(finished(follow, f"More {i}"))
        if i % 7 == 3:
            events.append(
                ConversationRenamed(user_id=user, conversation_id=p.conversation_id, title=f"Renamed {i}")
            )
        if i % 5 == 1:
            events.append(ConversationPinned(user_id=user, conversation_id=p.conversation_id, pinned=True))
        if i % 3 == 0:
            project_id = projects[user].project_id
            events.append(moved(user, p.conversation_id, project_id))
        if i % 10 == 9:
            events.append(ConversationDeleted(user_id=user, conversation_id=p.conversation_id))
    events += _library_script(projects)
    return events


def _follow_up(p: PromptSubmitted, text: str, *, after_s: float) -> PromptSubmitted:
    """A prompt answering on from `p`'s answer, `after_s` after `p`."""
    return prompt(
        p.user_id,
        text,
        conversation_id=p.conversation_id,
        parent_id=p.message_id,
        at=p.occurred_at + timedelta(seconds=after_s),
    )


def _library_script(projects: dict[str, ProjectCreated]) -> list[DomainEvent]:
    one, three = projects["user1"], projects["user3"]
    events: list[DomainEvent] = [
        project_updated("user1", one.project_id, "Renamed", system_prompt="Be kind"),
        project_deleted("user3", three.project_id),
    ]
    for i in range(6):
        user = f"user{i % 2}"
        saved = prompt_saved(user, f"Prompt {i}", f"Text {i}", tags=("t",))
        events.append(saved)
        if i % 2 == 0:
            events.append(prompt_shared(user, saved.prompt_id, owner=user, on=True))
        if i == 2:
            events.append(prompt_shared("admin", saved.prompt_id, owner=user, on=False))
        if i == 3:
            events.append(saved.model_copy(update={"event_id": new_id(), "text": "Edited", "tags": ()}))
        if i == 5:
            events.append(prompt_deleted(user, saved.prompt_id))
    return events


async def _rows(store: SqlHistoryStore) -> dict[str, list[Any]]:
    async with store.engine.connect() as connection:
        return {
            "conversations": [
                tuple(r) for r in await connection.execute(text("SELECT * FROM conversations ORDER BY id"))
            ],
            "messages": [
                tuple(r) for r in await connection.execute(text("SELECT * FROM messages ORDER BY id"))
            ],
            "projects": [
                tuple(r) for r in await connection.execute(text("SELECT * FROM projects ORDER BY id"))
            ],
            "saved_prompts": [
                tuple(r) for r in await connection.execute(text("SELECT * FROM saved_prompts ORDER BY id"))
            ],
            "audit_log": [
                tuple(r)
                for r in await connection.execute(
                    text("SELECT seq, event_id, type, body, prev_hash, hash FROM audit_log ORDER BY seq")
                )
            ],
        }


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


async def _settle(running: Running) -> None:
    """Until the event count stops moving for half a second."""
    last = -1
    while (count := await running.store.event_count()) != last:
        last = count
        await asyncio.sleep(0.5)


async def _drive(running: Running, broker: Broker) -> int:
    script = _script()
    await broker.publish(UserRegistered(user_id="user0", email="u@example.org", display_name="U"))
    await broker.publish(*script)
    stored = len(script)
    # every conversation asks for a title once, after its first answer
    await running.wait_events(stored + CONVERSATIONS, timeout=30)
    await _settle(running)
    titles: list[PromptSubmitted] = []
    async for record in running.store.audit_records():
        if record.type == "prompt.submitted":
            event = PromptSubmitted.model_validate_json(record.body)
            if event.purpose == "title":
                titles.append(event)
    assert len(titles) == CONVERSATIONS
    assert len({t.conversation_id for t in titles}) == CONVERSATIONS
    for title in titles:
        await broker.publish(finished(title, f"Title for {title.conversation_id.hex[:6]}"))
    total = stored + 2 * len(titles)
    await running.wait_events(total)
    await _settle(running)
    assert await running.store.event_count() == total
    return total


async def test_replay_from_the_stream_and_from_the_log_reproduces_the_projection(
    running: Running, broker: Broker, databases: Databases, amqp_url: str, stores: list[SqlHistoryStore]
) -> None:
    total = await _drive(running, broker)
    live = await _rows(running.store)
    assert len(live["conversations"]) == CONVERSATIONS
    assert any(row[1] is not None for row in live["conversations"])  # some titles
    # the library is there too: 3 live projects (one deleted), conversations in them, 6 prompts
    assert len(live["projects"]) == 4
    assert sum(row[-1] is not None for row in live["conversations"]) > 0
    assert len(live["saved_prompts"]) == 6

    from_stream_url = await databases.fresh(migrated=False)
    await asyncio.to_thread(migrate, from_stream_url)
    target = sql_store(from_stream_url)
    stores.append(target)
    report = await services.replay(read_stream(amqp_url, idle_s=1.0), target=target)
    assert (report.stored, report.skipped) == (total, 1)  # user.registered is not history's
    replayed = await _rows(target)
    assert replayed["conversations"] == live["conversations"]
    assert replayed["messages"] == live["messages"]
    assert replayed["projects"] == live["projects"]
    assert replayed["saved_prompts"] == live["saved_prompts"]
    # The same events; their order may differ where two publishers interleave (the
    # test's and history's title requests): RabbitMQ orders messages per channel,
    # and the quorum queue and the stream receive them independently.
    assert sorted(row[1:4] for row in replayed["audit_log"]) == sorted(row[1:4] for row in live["audit_log"])
    assert await target.verify() == ChainReport(total, None)

    from_log_url = await databases.fresh(migrated=False)
    env = {
        **os.environ,
        "PARLEY_HISTORY_DATABASE_URL": running.settings.database_url,
        "AMQP_URL": amqp_url,
        "PARLEY_HISTORY_AUDIT_KEY": AUDIT_SECRET,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "parley_history", "replay", "--from-log", "--into", from_log_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f'"stored": {total}' in done.stdout
    target2 = sql_store(from_log_url)
    stores.append(target2)
    assert await _rows(target2) == live
    assert await target2.verify() == ChainReport(total, None)

    # a replay from an offset / a time starts later in the stream
    late = sql_store(await databases.fresh())
    stores.append(late)
    partial = await services.replay(read_stream(amqp_url, offset=total - 4, idle_s=1.0), target=late)
    assert partial.events == 5  # offsets count from 0, and the stream also holds user.registered


async def test_verify_command_names_the_tampered_row(running: Running, broker: Broker, pg_url: str) -> None:
    events = [prompt("alice", f"q{i}") for i in range(3)]
    await broker.publish(*events)
    await running.wait_events(3)
    env = {**os.environ, "PARLEY_HISTORY_DATABASE_URL": pg_url, "PARLEY_HISTORY_AUDIT_KEY": AUDIT_SECRET}
    command = [sys.executable, "-m", "parley_history", "verify"]
    ok = await asyncio.to_thread(_run, command, env)
    assert ok.returncode == 0, ok.stderr
    assert "3 row(s)" in ok.stdout
    async with running.store.engine.begin() as connection:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text("UPDATE audit_log SET user_id = 'mallory' WHERE seq = 2"))
    bad = await asyncio.to_thread(_run, command, env)
    assert bad.returncode == 1
    assert f"seq=2 event_id={events[1].event_id}" in bad.stderr


@pytest.mark.parametrize("argv", [["replay", "--from-log", "--into", "mysql://x/y"]])
def test_replay_refuses_other_drivers(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "parley_history", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
