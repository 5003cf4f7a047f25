"""The agreement check itself (no servers): it refuses each kind of disagreement that the
fault tests rely on it to catch, and accepts a repeated copy of one event."""

from __future__ import annotations

from typing import Any

from .agreement import Seen, _compare, _index

CONVERSATION = "c1"
TEXT = "the answer"
USAGE = {"prompt_tokens": 3, "completion_tokens": 2}


def _seen(message_id: str, *, error: bool = False) -> Seen:
    accepted = {"type": "accepted", "conversation_id": CONVERSATION, "message_id": message_id}
    if error:
        return Seen(accepted, {"type": "error", "code": "generation_failed", "message_id": message_id})
    end = {"type": "done", "message_id": message_id, "text": TEXT, "finish_reason": "stop", "usage": USAGE}
    return Seen(accepted, end)


def _event(kind: str, message_id: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": event_id,
        "conversation_id": CONVERSATION,
        "message_id": message_id,
        **fields,
    }


def _finished(
    message_id: str, event_id: str, text: str = TEXT, occurred_at: str = "2026-11-27T05:00:00.000000Z"
) -> dict[str, Any]:
    return _event(
        "completion.finished",
        message_id,
        event_id,
        text=text,
        usage={**USAGE, "source": "provider"},
        occurred_at=occurred_at,
    )


def _stored(message_id: str, status: str = "finished", content: str = TEXT) -> dict[str, Any]:
    return {"id": message_id, "role": "assistant", "status": status, "content": content}


def _problems(seen: list[Seen], stored: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    return _compare(seen, {CONVERSATION: stored}, _index(events, {CONVERSATION}))


PROMPT = _event("prompt.submitted", "m1", "p1")


def test_one_story_told_three_times_agrees_even_with_a_repeated_copy() -> None:
    events = [PROMPT, _finished("m1", "e1"), _finished("m1", "e1")]
    assert _problems([_seen("m1")], [_stored("m1")], events) == []
    assert _index(events, {CONVERSATION}).copies == 1


def test_each_disagreement_is_named() -> None:
    seen = [_seen("m1")]
    assert _problems(seen, [], [PROMPT, _finished("m1", "e1")]) == ["m1 (done): not in history"]
    assert _problems(seen, [_stored("m1")], [PROMPT]) == ["m1 (done): no outcome event in audit.events"]
    other_text = _problems(seen, [_stored("m1", content="other")], [PROMPT, _finished("m1", "e1")])
    assert len(other_text) == 1
    assert "history holds" in other_text[0]
    no_prompt = _problems(seen, [_stored("m1")], [_finished("m1", "e1")])
    assert no_prompt == ["m1: 0 prompt.submitted events"]


def test_an_error_frame_for_an_answer_that_finished_disagrees() -> None:
    problems = _problems([_seen("m1", error=True)], [_stored("m1")], [PROMPT, _finished("m1", "e1")])
    assert len(problems) == 2, problems


def test_a_finished_answer_no_client_saw_disagrees() -> None:
    events = [PROMPT, _finished("m1", "e1"), _finished("m2", "e2")]
    problems = _problems([_seen("m1")], [_stored("m1"), _stored("m2")], events)
    assert sorted(problems) == [
        "m2: a completion.finished in audit.events that no client saw",
        "m2: a finished answer in history that no client saw",
    ]


def test_title_requests_are_not_answers() -> None:
    title = _event("prompt.submitted", "t1", "pt", purpose="title")
    events = [PROMPT, _finished("m1", "e1"), title, _finished("t1", "et", text="A title")]
    assert _problems([_seen("m1")], [_stored("m1")], events) == []


LATER = "2026-11-27T05:00:09.000000Z"


def test_an_answer_generated_again_counts_by_its_first_finished_outcome() -> None:
    """A worker that lost the confirm of its outcome generates the answer again: the first
    finished outcome is the one the client saw, history keeps and auth bills."""
    seen = [_seen("m1")]
    first, again = _finished("m1", "e1"), _finished("m1", "e2", text="said again", occurred_at=LATER)
    assert _problems(seen, [_stored("m1")], [PROMPT, again, first]) == []
    # ... and not the later one, whatever the order in the stream
    wrong = _problems(seen, [_stored("m1")], [PROMPT, _finished("m1", "e1", text="other"), again])
    assert len(wrong) == 1
    assert "audit.events holds completion.finished 'other'" in wrong[0]
    # history keeping the later one disagrees
    late = _problems(seen, [_stored("m1", content="said again")], [PROMPT, first, again])
    assert len(late) == 1
    assert "history holds" in late[0]
