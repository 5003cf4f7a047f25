"""Stream events (on `session.<id>`), control commands (on `chat.control`) and
worker heartbeats (on `inference.heartbeats`).

A stream event's `seq` counts the frames of one generation attempt from 1, as
the worker publishes them. The gateway numbers the frames it sends to the
client per session; the worker's `seq` lets it drop what a snapshot already
covers. `attempt` rises when a request is redelivered to another worker, so
frames of an abandoned attempt can be told apart.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from parley_contracts.envelope import Event
from parley_contracts.events import FinishReason, StreamMetrics, Usage


class StreamEvent(Event):
    message_id: UUID
    attempt: int = 0
    seq: int


class TokenDelta(StreamEvent):
    type: Literal["token.delta"] = "token.delta"
    text: str


class StreamRestarted(StreamEvent):
    """A new attempt of this generation starts: drop its partial text."""

    type: Literal["stream.restarted"] = "stream.restarted"


class StreamFinished(StreamEvent):
    """The end of a generation, with the whole text, so that a client that
    missed deltas still ends with the whole answer."""

    type: Literal["stream.finished"] = "stream.finished"
    text: str
    finish_reason: FinishReason
    usage: Usage
    metrics: StreamMetrics


class StreamFailed(StreamEvent):
    type: Literal["stream.failed"] = "stream.failed"
    code: str
    message: str


class SnapshotItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: UUID
    attempt: int
    seq: int
    text: str


class StreamSnapshots(Event):
    """A worker's answer to `snapshot.request`: every generation it holds for
    the session (possibly none). It is published on the session queue after
    every delta it covers, so queue order alone tells what to drop."""

    type: Literal["stream.snapshots"] = "stream.snapshots"
    request_id: UUID
    worker_id: str
    items: tuple[SnapshotItem, ...] = ()


SESSION_STREAM_EVENTS: tuple[type[Event], ...] = (
    TokenDelta,
    StreamRestarted,
    StreamFinished,
    StreamFailed,
    StreamSnapshots,
)


class CancelGeneration(Event):
    type: Literal["generation.cancel"] = "generation.cancel"
    message_id: UUID
    user_id: str


class RequestSnapshot(Event):
    type: Literal["snapshot.request"] = "snapshot.request"
    request_id: UUID
    session_id: UUID
    reply_to: str


CONTROL_COMMANDS: tuple[type[Event], ...] = (CancelGeneration, RequestSnapshot)


class WorkerHeartbeat(Event):
    type: Literal["worker.heartbeat"] = "worker.heartbeat"
    worker_id: str
    models: tuple[str, ...]
    capacity: int
    free_slots: int
    interval_s: float
    stopping: bool = False
