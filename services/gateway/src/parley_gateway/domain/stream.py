"""From a session queue's stream events to the client's stream frames.

The worker numbers each generation attempt's events from 1 (`seq`) and says
which attempt they belong to (`attempt`). `StreamTracker` keeps, per message,
how far the client's text is known to be consistent, so that it forwards
every event exactly once, in order, and never leaves a hole in the text:

- events of an older attempt, and events at or below the last seq already
  covered (duplicates, or what a snapshot already contains) are dropped;
- a newer attempt starts with a `restart` frame (the client drops the partial
  text of that message);
- a message the tracker has not followed from its start (one that began
  before this socket, on resume) is *unsynced*: its deltas are dropped until
  a snapshot (the whole text so far) or its end arrives. An unsynced running
  message asks for a resync (a fresh snapshot request);
- a gap in a followed message makes it unsynced in the same way.

An ended message is remembered for `ENDED_FOR_S` (at most the last
`ENDED_AT_MOST` of them), so that its late events are dropped: a redelivery
after a reconnect, a worker's snapshot that crossed the end, an attempt
generated again after a worker was lost. They all arrive within that.

`ResumeHold` counts the snapshot answers a resume waits for.
The session seq the client sees is assigned when frames are sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from parley_contracts import (
    SnapshotItem,
    StreamEvent,
    StreamFailed,
    StreamFinished,
    StreamRestarted,
    TokenDelta,
)
from parley_gateway.domain.clock import Clock
from parley_platform.recent import Recent

ENDED_FOR_S = 300.0
ENDED_AT_MOST = 1024


@dataclass(frozen=True)
class _TextFrame:
    """A frame with a message's text: a piece of it (`delta`), or all of it so far (`snapshot`)."""

    kind: ClassVar[str]
    message_id: UUID
    text: str

    def to_wire(self, seq: int) -> dict[str, Any]:
        return {"type": self.kind, "message_id": str(self.message_id), "seq": seq, "text": self.text}


@dataclass(frozen=True)
class DeltaFrame(_TextFrame):
    kind = "delta"


@dataclass(frozen=True)
class SnapshotFrame(_TextFrame):
    kind = "snapshot"


@dataclass(frozen=True)
class RestartFrame:
    message_id: UUID

    def to_wire(self, seq: int) -> dict[str, Any]:
        return {"type": "restart", "message_id": str(self.message_id), "seq": seq}


@dataclass(frozen=True)
class DoneFrame:
    message_id: UUID
    text: str
    finish_reason: str
    usage: dict[str, Any]
    metrics: dict[str, Any]

    def to_wire(self, seq: int) -> dict[str, Any]:
        return {
            "type": "done",
            "message_id": str(self.message_id),
            "seq": seq,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class StreamErrorFrame:
    """A failed generation: its last frame."""

    message_id: UUID
    code: str
    message: str

    def to_wire(self, seq: int) -> dict[str, Any]:
        return {
            "type": "error",
            "code": self.code,
            "message": self.message,
            "message_id": str(self.message_id),
            "seq": seq,
        }


StreamFrame = DeltaFrame | SnapshotFrame | RestartFrame | DoneFrame | StreamErrorFrame
END_FRAMES = (DoneFrame, StreamErrorFrame)


@dataclass
class _Message:
    attempt: int
    last_seq: int
    synced: bool


class StreamTracker:
    """Per-socket bookkeeping of one session's messages (see module doc)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._messages: dict[UUID, _Message] = {}
        self._ended: Recent[UUID] = Recent(for_s=ENDED_FOR_S, at_most=ENDED_AT_MOST, clock=clock)
        self._resync_wanted = False

    # What the gateway itself knows.

    def expect(self, message_id: UUID) -> None:
        """A prompt of this socket: the client has its whole (empty) text."""
        self._messages.setdefault(message_id, _Message(attempt=0, last_seq=0, synced=True))

    def discard(self, message_id: UUID) -> None:
        """A prompt that was refused after all: ignore anything about it."""
        self._messages.pop(message_id, None)
        self._remember_end(message_id)

    def is_running(self, message_id: UUID) -> bool:
        return message_id in self._messages

    def is_known(self, message_id: UUID) -> bool:
        return message_id in self._messages or message_id in self._ended

    @property
    def running(self) -> frozenset[UUID]:
        return frozenset(self._messages)

    def take_resync_wish(self) -> bool:
        """Whether an unsynced running message dropped a delta since the last call."""
        wanted, self._resync_wanted = self._resync_wanted, False
        return wanted

    @property
    def unsynced(self) -> frozenset[UUID]:
        return frozenset(m for m, state in self._messages.items() if not state.synced)

    # Events from the session queue.

    def apply_snapshot(self, item: SnapshotItem) -> SnapshotFrame | None:
        """A worker's text so far of a message; a frame when the client needs it."""
        if item.message_id in self._ended:
            return None
        state = self._messages.get(item.message_id)
        if state is not None:
            if item.attempt < state.attempt:
                return None
            if item.attempt == state.attempt and state.synced and item.seq <= state.last_seq:
                return None
        self._messages[item.message_id] = _Message(attempt=item.attempt, last_seq=item.seq, synced=True)
        return SnapshotFrame(item.message_id, item.text)

    def process(self, event: StreamEvent) -> list[StreamFrame]:
        message_id = event.message_id
        if message_id in self._ended:
            return []
        state = self._messages.get(message_id)
        if state is None:
            # Begun before this socket followed the session: the client's text is unknown.
            state = self._messages[message_id] = _Message(attempt=event.attempt, last_seq=0, synced=False)
        if event.attempt < state.attempt:
            return []
        frames: list[StreamFrame] = []
        if event.attempt > state.attempt:
            state.attempt, state.last_seq, state.synced = event.attempt, 0, True
            if not isinstance(event, StreamRestarted):
                frames.append(RestartFrame(message_id))
        if event.seq <= state.last_seq:
            return frames
        if isinstance(event, StreamFinished | StreamFailed):
            frames.append(self._end(event))
            return frames
        if isinstance(event, StreamRestarted):
            state.last_seq, state.synced = event.seq, True
            frames.append(RestartFrame(message_id))
            return frames
        if isinstance(event, TokenDelta):
            frames.extend(self._delta(state, event))
        return frames

    def _delta(self, state: _Message, event: TokenDelta) -> list[StreamFrame]:
        contiguous = event.seq == state.last_seq + 1
        if not state.synced and event.seq == 1:
            state.synced = True  # the first event of this attempt: the client needs nothing before it
        elif state.synced and not contiguous:
            state.synced = False  # a hole: hold back until a snapshot or the end fills it
        state.last_seq = event.seq
        if not state.synced:
            self._resync_wanted = True
            return []
        return [DeltaFrame(event.message_id, event.text)]

    def _end(self, event: StreamFinished | StreamFailed) -> StreamFrame:
        self._messages.pop(event.message_id, None)
        self._remember_end(event.message_id)
        if isinstance(event, StreamFailed):
            return StreamErrorFrame(event.message_id, event.code, event.message)
        return DoneFrame(
            event.message_id,
            event.text,
            event.finish_reason,
            event.usage.model_dump(mode="json"),
            event.metrics.model_dump(mode="json"),
        )

    def _remember_end(self, message_id: UUID) -> None:
        self._ended.add(message_id)


class ResumeHold:
    """The snapshot answers a resume waits for: one from each worker that may
    hold a generation of the session, under this resume's request id."""

    def __init__(self, request_id: UUID, expected: frozenset[str]) -> None:
        self.request_id = request_id
        self.expected = expected
        self._answered: set[str] = set()

    def answer(self, request_id: UUID, worker_id: str) -> None:
        if request_id == self.request_id:
            self._answered.add(worker_id)

    @property
    def complete(self) -> bool:
        """All expected workers answered (never, if none were expected: a
        gateway that has heard no heartbeat yet waits out the deadline)."""
        return bool(self.expected) and self.expected <= self._answered
