from __future__ import annotations

from uuid import UUID, uuid4

from parley_contracts import (
    SnapshotItem,
    StreamFailed,
    StreamFinished,
    StreamMetrics,
    StreamRestarted,
    TokenDelta,
    Usage,
)
from parley_gateway.domain.stream import (
    ENDED_AT_MOST,
    ENDED_FOR_S,
    DeltaFrame,
    DoneFrame,
    RestartFrame,
    ResumeHold,
    SnapshotFrame,
    StreamErrorFrame,
    StreamTracker,
)
from tests.fakes import FakeClock


def delta(message_id: UUID, seq: int, text: str, attempt: int = 0) -> TokenDelta:
    return TokenDelta(message_id=message_id, seq=seq, attempt=attempt, text=text)


def finished(message_id: UUID, seq: int, text: str, attempt: int = 0) -> StreamFinished:
    return StreamFinished(
        message_id=message_id,
        seq=seq,
        attempt=attempt,
        text=text,
        finish_reason="stop",
        usage=Usage(prompt_tokens=3, completion_tokens=2),
        metrics=StreamMetrics(ttft_ms=12.5, tokens_per_s=40.0),
    )


def snapshot(message_id: UUID, seq: int, text: str, attempt: int = 0) -> SnapshotItem:
    return SnapshotItem(message_id=message_id, attempt=attempt, seq=seq, text=text)


def test_a_followed_stream_passes_through_in_order() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    assert tracker.is_running(m)
    assert tracker.process(delta(m, 1, "Hel")) == [DeltaFrame(m, "Hel")]
    assert tracker.process(delta(m, 2, "lo")) == [DeltaFrame(m, "lo")]
    [done] = tracker.process(finished(m, 3, "Hello"))
    assert isinstance(done, DoneFrame)
    wire = done.to_wire(9)
    # Usage may carry more than the two counts (e.g. where they came from); those two are the contract.
    wire["usage"] = {k: wire["usage"][k] for k in ("prompt_tokens", "completion_tokens")}
    assert wire == {
        "type": "done",
        "message_id": str(m),
        "seq": 9,
        "text": "Hello",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        "metrics": {"ttft_ms": 12.5, "tokens_per_s": 40.0},
    }
    assert not tracker.is_running(m)
    assert tracker.is_known(m)


def test_duplicates_and_anything_after_the_end_are_dropped() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.process(delta(m, 1, "a"))
    assert tracker.process(delta(m, 1, "a")) == []
    tracker.process(finished(m, 2, "a"))
    assert tracker.process(finished(m, 2, "a")) == []
    assert tracker.process(delta(m, 3, "late")) == []
    assert tracker.apply_snapshot(snapshot(m, 5, "whatever")) is None


def test_a_new_attempt_restarts_and_the_old_one_is_dropped() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.process(delta(m, 1, "old"))
    restarted = StreamRestarted(message_id=m, seq=1, attempt=1)
    assert tracker.process(restarted) == [RestartFrame(m)]
    assert tracker.process(delta(m, 2, "stale", attempt=0)) == []
    assert tracker.process(delta(m, 2, "new", attempt=1)) == [DeltaFrame(m, "new")]


def test_a_new_attempt_without_its_restart_event_still_restarts() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.process(delta(m, 1, "old"))
    assert tracker.process(delta(m, 1, "new", attempt=2)) == [RestartFrame(m), DeltaFrame(m, "new")]


def test_a_failed_stream_ends_with_an_error_frame() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    failure = StreamFailed(message_id=m, seq=1, code="provider_error", message="upstream 500")
    [frame] = tracker.process(failure)
    assert frame == StreamErrorFrame(m, "provider_error", "upstream 500")
    assert frame.to_wire(4) == {
        "type": "error",
        "code": "provider_error",
        "message": "upstream 500",
        "message_id": str(m),
        "seq": 4,
    }
    assert not tracker.is_running(m)


def test_resume_snapshot_covers_what_came_before_it() -> None:
    # Queue order on resume: deltas 4 and 5 the old socket never sent, the
    # worker's snapshot (through seq 5), then delta 6.
    tracker, m = StreamTracker(), uuid4()
    assert tracker.apply_snapshot(snapshot(m, 5, "abcde")) == SnapshotFrame(m, "abcde")
    assert tracker.is_running(m)
    assert tracker.process(delta(m, 4, "d")) == []
    assert tracker.process(delta(m, 5, "e")) == []
    assert tracker.process(delta(m, 6, "f")) == [DeltaFrame(m, "f")]
    assert tracker.unsynced == frozenset()


def test_an_unknown_running_message_waits_for_its_snapshot() -> None:
    tracker, m = StreamTracker(), uuid4()
    assert tracker.process(delta(m, 7, "g")) == []
    assert tracker.unsynced == {m}
    assert tracker.take_resync_wish()
    assert not tracker.take_resync_wish()
    assert tracker.process(delta(m, 8, "h")) == []
    # A late snapshot answer, after delta 8 in queue order.
    assert tracker.apply_snapshot(snapshot(m, 8, "abcdefgh")) == SnapshotFrame(m, "abcdefgh")
    assert tracker.process(delta(m, 9, "i")) == [DeltaFrame(m, "i")]


def test_an_unknown_message_that_ended_meanwhile_ends_with_its_full_text() -> None:
    tracker, m = StreamTracker(), uuid4()
    assert tracker.process(delta(m, 3, "c")) == []
    [done] = tracker.process(finished(m, 4, "abc"))
    assert isinstance(done, DoneFrame)
    assert done.text == "abc"


def test_an_unknown_message_seen_from_its_start_is_followed() -> None:
    tracker, m = StreamTracker(), uuid4()
    assert tracker.process(delta(m, 1, "a")) == [DeltaFrame(m, "a")]
    assert tracker.process(delta(m, 2, "b")) == [DeltaFrame(m, "b")]
    tracker.apply_snapshot(snapshot(m, 2, "ab"))  # nothing new: no frame
    assert tracker.process(delta(m, 3, "c")) == [DeltaFrame(m, "c")]


def test_a_snapshot_already_covered_is_not_sent() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.process(delta(m, 1, "a"))
    tracker.process(delta(m, 2, "b"))
    assert tracker.apply_snapshot(snapshot(m, 2, "ab")) is None
    assert tracker.apply_snapshot(snapshot(m, 1, "a")) is None
    assert tracker.apply_snapshot(snapshot(m, 9, "x", attempt=-1)) is None


def test_a_gap_holds_the_message_back_until_a_snapshot() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.process(delta(m, 1, "a"))
    assert tracker.process(delta(m, 3, "c")) == []  # 2 is missing: no hole in the client's text
    assert tracker.take_resync_wish()
    assert tracker.process(delta(m, 2, "b")) == []  # late and out of order: covered by what comes
    assert tracker.apply_snapshot(snapshot(m, 3, "abc")) == SnapshotFrame(m, "abc")
    assert tracker.process(delta(m, 4, "d")) == [DeltaFrame(m, "d")]


def test_a_snapshot_of_a_newer_attempt_replaces_the_text() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.process(delta(m, 1, "old"))
    assert tracker.apply_snapshot(snapshot(m, 2, "ne", attempt=1)) == SnapshotFrame(m, "ne")
    assert tracker.process(delta(m, 2, "e", attempt=1)) == []
    assert tracker.process(delta(m, 3, "w", attempt=1)) == [DeltaFrame(m, "w")]


def test_discarded_messages_are_ignored() -> None:
    tracker, m = StreamTracker(), uuid4()
    tracker.expect(m)
    tracker.discard(m)
    assert not tracker.is_running(m)
    assert tracker.process(delta(m, 1, "a")) == []
    assert tracker.apply_snapshot(snapshot(m, 1, "a")) is None


def test_messages_are_independent() -> None:
    tracker, a, b = StreamTracker(), uuid4(), uuid4()
    tracker.expect(a)
    tracker.expect(b)
    assert tracker.process(delta(b, 1, "B")) == [DeltaFrame(b, "B")]
    assert tracker.process(delta(a, 1, "A")) == [DeltaFrame(a, "A")]
    tracker.process(finished(a, 2, "A"))
    assert tracker.running == {b}


def test_resume_hold_completes_when_every_expected_worker_answered() -> None:
    request = uuid4()
    hold = ResumeHold(request, frozenset({"w1", "w2"}))
    hold.answer(request, "w1")
    hold.answer(uuid4(), "w2")  # an answer to another request does not count
    complete_before = hold.complete
    hold.answer(request, "w2")
    assert (complete_before, hold.complete) == (False, True)
    assert not ResumeHold(request, frozenset()).complete  # nobody known: wait out the deadline


def test_an_end_is_remembered_for_a_while_then_forgotten() -> None:
    clock = FakeClock()
    tracker, m, later = StreamTracker(clock), uuid4(), uuid4()
    tracker.expect(m)
    tracker.process(finished(m, 1, "a"))
    clock.advance(ENDED_FOR_S - 1)
    assert tracker.process(delta(m, 2, "late")) == []
    tracker.expect(later)
    clock.advance(2)
    tracker.process(finished(later, 1, "b"))
    assert not tracker.is_known(m)
    assert tracker.is_known(later)


def test_only_the_latest_ends_are_remembered() -> None:
    tracker = StreamTracker(FakeClock())
    ids = [uuid4() for _ in range(ENDED_AT_MOST + 1)]
    for m in ids:
        tracker.expect(m)
        tracker.process(finished(m, 1, "x"))
    assert not tracker.is_known(ids[0])
    assert all(tracker.is_known(m) for m in ids[1:])
