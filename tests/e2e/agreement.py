"""The three-way agreement check that ends every fault test (issue 9): what the clients
saw, what history stored and what the `audit.events` stream holds must tell one story.

- Every `done` a client saw is stored once in history (same message id, same text,
  status `finished`, or `cancelled` for a stopped answer) and is in the stream as exactly
  one `completion.finished` (or `completion.cancelled`) event: same message id, same text
  and usage.
- Every `error` frame is a failed or cancelled answer in history and a
  `completion.failed|cancelled` event in the stream, never a finished one.
- Nothing more: no other finished answer in history or in the stream for those
  conversations, and each accepted prompt is one `prompt.submitted` event.

The same event may sit in the stream more than once (a publish retried after a lost
confirm repeats its `event_id`, which every consumer dedupes): such copies are counted,
not refused. Two *different* outcome events for one message are refused.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx

from parley_contracts.topology import AUDIT_EVENTS
from parley_platform.rabbit import declare_queue

from .stack import Frame

FINISHED = "completion.finished"
FAILED = "completion.failed"
CANCELLED = "completion.cancelled"
OUTCOMES = frozenset({FINISHED, FAILED, CANCELLED})
_TERMINAL = frozenset({"finished", "failed", "cancelled"})


@dataclass(frozen=True)
class Seen:
    """What one client saw of one prompt: its `accepted` frame and the `done` or `error` that ended it."""

    accepted: Frame
    end: Frame

    @property
    def message_id(self) -> str:
        return str(self.accepted["message_id"])

    @property
    def conversation_id(self) -> str:
        return str(self.accepted["conversation_id"])

    @property
    def done(self) -> bool:
        return bool(self.end["type"] == "done")


@dataclass(frozen=True)
class Agreement:
    """What the check counted, for the test's printout."""

    done: int
    errors: int
    stored: int
    """Answers of these conversations in history, in a final state."""
    outcome_events: int
    """Distinct outcome events of these answers in `audit.events`."""
    copies: int
    """Repeated copies of an outcome or prompt event (same `event_id`) in the stream."""
    answered_again: int
    """Answers with more than one outcome event (generated again after a lost confirm)."""
    history_caught_up_s: float

    def __str__(self) -> str:
        return (
            f"agreement: {self.done} done + {self.errors} errors seen = {self.stored} stored in history "
            f"= {self.outcome_events} outcome events in audit.events ({self.copies} repeated copies, "
            f"{self.answered_again} answered again); "
            f"history caught up in {self.history_caught_up_s:.1f} s"
        )


async def check_agreement(
    seen: Sequence[Seen], *, history_url: str, token: str, amqp_url: str, within_s: float = 60
) -> Agreement:
    """Assert that clients, history and `audit.events` agree on `seen` (all of one user,
    whose access `token` history accepts); wait up to `within_s` for them to catch up."""
    assert seen, "nothing to compare"
    for one in seen:
        assert one.accepted["type"] == "accepted", one.accepted
        assert one.end["type"] in {"done", "error"}, one.end
        assert one.end.get("message_id") == one.message_id, (one.accepted, one.end)
    started = time.monotonic()
    deadline = started + within_s
    stored = await _history_caught_up(seen, history_url, token, deadline)
    caught_up = time.monotonic() - started
    events = await audit_events(amqp_url, wanted={s.message_id for s in seen}, deadline=deadline)

    audit = _index(events, _conversations(seen))
    problems = _compare(seen, stored, audit)
    assert not problems, "clients, history and audit.events disagree:\n" + "\n".join(problems)
    answers = [
        m
        for ms in stored.values()
        for m in ms
        if m["role"] == "assistant" and m["status"] in _TERMINAL and m["id"] not in audit.titles
    ]
    done = sum(1 for s in seen if s.done)
    wanted = _messages(seen)
    outcomes = [by_id for message_id, by_id in audit.outcomes.items() if message_id in wanted]
    again = sum(1 for by_id in outcomes if len(by_id) > 1)
    outcome_events = sum(len(by_id) for by_id in outcomes)
    return Agreement(done, len(seen) - done, len(answers), outcome_events, audit.copies, again, caught_up)


@dataclass
class _Audit:
    """The stream's events of some conversations, title requests left out."""

    outcomes: dict[str, dict[str, dict[str, Any]]]
    """Message id -> event id -> outcome event."""
    prompts: dict[str, dict[str, dict[str, Any]]]
    """Message id -> event id -> its `prompt.submitted` event."""
    titles: set[str]
    """Message ids of history's title requests (their answers are titles, not messages)."""
    copies: int


def _index(events: list[dict[str, Any]], conversations: set[str]) -> _Audit:
    titles = {
        e["message_id"] for e in events if e["type"] == "prompt.submitted" and e.get("purpose") == "title"
    }
    audit = _Audit(defaultdict(dict), defaultdict(dict), titles, 0)
    for event in events:
        if event.get("conversation_id") not in conversations or event.get("message_id") in titles:
            continue
        if event["type"] in OUTCOMES:
            by_id = audit.outcomes[event["message_id"]]
        elif event["type"] == "prompt.submitted":
            by_id = audit.prompts[event["message_id"]]
        else:
            continue
        audit.copies += event["event_id"] in by_id
        by_id[event["event_id"]] = event
    return audit


async def seen_on_reload(accepted: Frame, *, base_url: str, token: str, within_s: float = 60) -> Seen:
    """What a client that missed the end of an answer learns by reloading its conversation
    (`GET /api/history/conversations/{id}` on `base_url`, the gateway or history): the
    stored answer as the `done` (or `error`) frame it stands for, once it is final."""
    message_id, deadline = str(accepted["message_id"]), time.monotonic() + within_s
    async with httpx.AsyncClient(
        base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        while True:
            got = await http.get(f"/api/history/conversations/{accepted['conversation_id']}")
            stored = {m["id"]: m for m in got.json()["messages"]} if got.status_code == 200 else {}
            answer = stored.get(message_id)
            if answer is not None and answer["status"] in _TERMINAL:
                break
            assert time.monotonic() < deadline, f"{message_id} never final in history: {answer}"
            await asyncio.sleep(0.3)
    if answer["status"] == "failed":
        return Seen(accepted, {"type": "error", "message_id": message_id, "code": answer["error_code"]})
    usage = {"prompt_tokens": answer["prompt_tokens"], "completion_tokens": answer["completion_tokens"]}
    end = {
        "type": "done",
        "message_id": message_id,
        "text": answer["content"],
        "finish_reason": answer["finish_reason"],
        "usage": usage,
    }
    return Seen(accepted, end)


def _conversations(seen: Sequence[Seen]) -> set[str]:
    return {s.conversation_id for s in seen}


def _messages(seen: Sequence[Seen]) -> set[str]:
    return {s.message_id for s in seen}


async def _history_caught_up(
    seen: Sequence[Seen], history_url: str, token: str, deadline: float
) -> dict[str, list[dict[str, Any]]]:
    """Each conversation's messages once every answer of `seen` is in a final state
    there (or the deadline passed: the comparison then names what is missing)."""
    stored: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(
        base_url=history_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        while True:
            for conversation_id in _conversations(seen):
                got = await http.get(f"/api/history/conversations/{conversation_id}")
                stored[conversation_id] = got.json()["messages"] if got.status_code == 200 else []
            final = {m["id"] for ms in stored.values() for m in ms if m["status"] in _TERMINAL}
            if _messages(seen) <= final or time.monotonic() > deadline:
                return stored
            await asyncio.sleep(0.3)


async def audit_events(
    amqp_url: str, *, wanted: set[str] | None = None, deadline: float | None = None
) -> list[dict[str, Any]]:
    """Every event of `audit.events` from its first offset, read until each message of
    `wanted` has an outcome event (or `deadline`, a `time.monotonic()`, passed) and the
    stream has been quiet for a moment."""
    wanted = wanted or set()
    deadline = deadline if deadline is not None else time.monotonic() + 60
    quiet_s = 1.5
    events: list[dict[str, Any]] = []
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()  # a fresh channel: its prefetch is the stream's credit
        await channel.set_qos(prefetch_count=500)
        queue = await declare_queue(channel, AUDIT_EVENTS)
        async with queue.iterator(arguments={"x-stream-offset": "first"}) as messages:
            while True:
                try:
                    message = await asyncio.wait_for(messages.__anext__(), timeout=quiet_s)
                except TimeoutError:
                    ended = {e["message_id"] for e in events if e["type"] in OUTCOMES}
                    if wanted <= ended or time.monotonic() > deadline:
                        return events
                    continue
                events.append(json.loads(message.body))
                await message.ack()
    finally:
        await connection.close()


def _compare(seen: Sequence[Seen], stored: dict[str, list[dict[str, Any]]], audit: _Audit) -> list[str]:
    answers = {
        m["id"]: m
        for ms in stored.values()
        for m in ms
        if m["role"] == "assistant" and m["id"] not in audit.titles
    }
    outcomes, prompts = audit.outcomes, audit.prompts

    problems: list[str] = []
    for one in seen:
        problems += _compare_one(one, answers.get(one.message_id), list(outcomes[one.message_id].values()))
        if len(prompts[one.message_id]) != 1:
            problems.append(f"{one.message_id}: {len(prompts[one.message_id])} prompt.submitted events")
    known = _messages(seen)
    for message_id, message in answers.items():
        if message_id not in known and message["status"] == "finished":
            problems.append(f"{message_id}: a finished answer in history that no client saw")
    for message_id, by_id in outcomes.items():
        if message_id not in known and any(e["type"] == FINISHED for e in by_id.values()):
            problems.append(f"{message_id}: a completion.finished in audit.events that no client saw")
    return problems


def decided(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The outcome that counts when a request was answered more than once (its worker died,
    or lost the confirm of its outcome, after publishing it, and another attempt followed):
    the first finished one by `(occurred_at, event_id)`, as the gateway forwarded it to its
    user, history keeps it and auth bills it; without a finished one, the latest."""

    def when(event: dict[str, Any]) -> tuple[str, str]:
        return str(event["occurred_at"]), str(event["event_id"])

    finished = [e for e in outcomes if e["type"] == FINISHED]
    return min(finished, key=when) if finished else max(outcomes, key=when)


def _compare_one(one: Seen, stored: dict[str, Any] | None, outcomes: list[dict[str, Any]]) -> list[str]:
    """What is wrong with one answer: history's row and the stream's events against the client's view."""
    who = f"{one.message_id} ({one.end['type']})"
    if stored is None:
        return [f"{who}: not in history"]
    if not outcomes:
        return [f"{who}: no outcome event in audit.events"]
    event = decided(outcomes)
    problems: list[str] = []
    if one.done:
        cancelled = one.end["finish_reason"] == "cancelled"
        status, kind = ("cancelled", CANCELLED) if cancelled else ("finished", FINISHED)
        text = one.end["text"]
        if stored["status"] != status or stored["content"] != text:
            problems.append(
                f"{who}: history holds {stored['status']} {stored['content']!r}, client saw {text!r}"
            )
        if event["type"] != kind or event.get("text") != text:
            problems.append(
                f"{who}: audit.events holds {event['type']} {event.get('text')!r}, client saw {text!r}"
            )
        usage = {k: event["usage"].get(k) for k in one.end["usage"]}
        if usage != one.end["usage"]:
            problems.append(f"{who}: usage {event['usage']} in audit.events, {one.end['usage']} seen")
    else:
        if stored["status"] not in {"failed", "cancelled"}:
            problems.append(f"{who}: the client saw {one.end.get('code')}, history holds {stored['status']}")
        if event["type"] not in {FAILED, CANCELLED}:
            problems.append(
                f"{who}: the client saw {one.end.get('code')}, audit.events holds {event['type']}"
            )
    return problems
