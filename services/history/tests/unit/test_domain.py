from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from parley_history.domain.audit import GENESIS_HASH, AuditRecord, ChainHead, ChainVerifier, chain_hash
from parley_history.domain.conversations import (
    ConversationSummary,
    ConversationView,
    Cursor,
    MessageView,
    branch_path,
    clean_title,
    cut_page,
    fallback_title,
    render_markdown,
    with_children,
)
from parley_history.domain.errors import InvalidCursor

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _chain(n: int) -> list[AuditRecord]:
    records, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "event_id": uuid4(),
            "type": "prompt.submitted",
            "version": 1,
            "occurred_at": T0 + timedelta(seconds=seq),
            "user_id": "u1",
            "conversation_id": uuid4(),
            "body": f'{{"n": {seq}}}',
            "prev_hash": prev,
        }
        digest = chain_hash(**fields)  # type: ignore[arg-type]
        records.append(AuditRecord(**fields, hash=digest))  # type: ignore[arg-type]
        prev = digest
    return records


def test_an_intact_chain_verifies() -> None:
    records = _chain(5)
    verifier = ChainVerifier()
    assert verifier.feed(records) is None
    assert verifier.finish(ChainHead(5, records[-1].hash)) is None
    assert verifier.checked == 5


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: replace(r, body='{"n": 999}'),
        lambda r: replace(r, user_id="mallory"),
        lambda r: replace(r, occurred_at=r.occurred_at + timedelta(seconds=1)),
    ],
)
def test_an_edited_row_is_named(tamper: object) -> None:
    records = _chain(5)
    records[2] = tamper(records[2])  # type: ignore[operator]
    broken = ChainVerifier().feed(records)
    assert broken is not None
    assert broken.seq == 3
    assert "hash" in broken.reason


def test_a_deleted_row_and_a_deleted_tail_are_caught() -> None:
    records = _chain(5)
    broken = ChainVerifier().feed(records[:2] + records[3:])
    assert broken is not None
    assert broken.seq == 4
    verifier = ChainVerifier()
    assert verifier.feed(records[:4]) is None
    tail = verifier.finish(ChainHead(5, records[-1].hash))
    assert tail is not None
    assert tail.seq == 5


def test_hash_ignores_the_timezone_offset_of_the_same_instant() -> None:
    record = _chain(1)[0]
    other = record.occurred_at.astimezone(datetime.now().astimezone().tzinfo)
    fields = {k: v for k, v in record.__dict__.items() if k not in ("hash", "mac", "mac_key_id")}
    assert chain_hash(**{**fields, "occurred_at": other}) == record.hash


def test_titles() -> None:
    assert fallback_title("  What is   the capital of France? ") == "What is the capital of France?"
    assert fallback_title("one two three four five six seven eight nine ten") == (
        "one two three four five six seven eight…"
    )
    assert fallback_title("   ") == "New chat"
    assert clean_title('\n"Capital of France."\nmore') == "Capital of France"
    assert clean_title("Title: Paris trip") == "Paris trip"
    assert clean_title(" \n ") is None


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor(T0, uuid4())
    assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(InvalidCursor):
        Cursor.decode("not-a-cursor!")


def test_a_page_has_a_cursor_after_its_last_row_only_when_more_follow() -> None:
    rows = [Cursor(T0 - timedelta(seconds=n), uuid4()) for n in range(5)]  # newest first

    page, next_cursor = cut_page(rows[:3], 2)  # a store reads `limit + 1` rows
    assert page == rows[:2]
    assert next_cursor is not None
    assert Cursor.decode(next_cursor) == rows[1]
    assert cut_page(rows[:2], 2) == (rows[:2], None)
    assert cut_page(rows[:1], 2) == (rows[:1], None)
    assert cut_page([], 2) == ([], None)


def _message(parent: UUID | None, role: str, content: str, seconds: int) -> MessageView:
    return MessageView(uuid4(), parent, role, content, "finished", T0 + timedelta(seconds=seconds))


def test_tree_branches_and_markdown_of_the_current_branch() -> None:
    q1 = _message(None, "user", "Hi", 0)
    a1 = _message(q1.id, "assistant", "Hello!", 1)
    q2 = _message(a1.id, "user", "Tell a joke", 2)
    a2 = _message(q2.id, "assistant", "Joke A", 3)
    a2b = _message(q2.id, "assistant", "Joke B", 4)
    messages = with_children([q1, a1, q2, a2, a2b])
    assert messages[2].children == (a2.id, a2b.id)
    assert branch_path(messages, a2b.id) == (q1.id, a1.id, q2.id, a2b.id)
    summary = ConversationSummary(uuid4(), "Jokes", False, "m", T0, T0)
    markdown = render_markdown(ConversationView(summary, "Be brief", a2b.id, messages))
    assert markdown.startswith("# Jokes\n")
    assert "Joke B" in markdown
    assert "Joke A" not in markdown
    assert "Be brief" in markdown
