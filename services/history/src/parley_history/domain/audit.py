"""The audit log's hash chain: each row's hash covers its content and the previous hash,
so that editing, deleting or reordering any row breaks every hash after it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import orjson

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first row."""


@dataclass(frozen=True)
class AuditRecord:
    """One consumed event as the audit log keeps it. `body` is the event's JSON
    exactly as it was received."""

    seq: int
    event_id: UUID
    type: str
    version: int
    occurred_at: datetime
    user_id: str | None
    conversation_id: UUID | None
    body: str
    prev_hash: str
    hash: str


def chain_hash(
    *,
    seq: int,
    event_id: UUID,
    type: str,
    version: int,
    occurred_at: datetime,
    user_id: str | None,
    conversation_id: UUID | None,
    body: str,
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON array of the row's content and the previous hash."""
    content = orjson.dumps(
        [
            seq,
            str(event_id),
            type,
            version,
            occurred_at.astimezone(UTC).isoformat(),
            user_id,
            None if conversation_id is None else str(conversation_id),
            body,
            prev_hash,
        ]
    )
    return hashlib.sha256(content).hexdigest()


def record_hash(record: AuditRecord) -> str:
    return chain_hash(
        seq=record.seq,
        event_id=record.event_id,
        type=record.type,
        version=record.version,
        occurred_at=record.occurred_at,
        user_id=record.user_id,
        conversation_id=record.conversation_id,
        body=record.body,
        prev_hash=record.prev_hash,
    )


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    event_id: UUID | None
    reason: str

    def __str__(self) -> str:
        return f"audit row seq={self.seq} event_id={self.event_id}: {self.reason}"


class ChainVerifier:
    """Walks rows in `seq` order and names the first one that breaks the chain."""

    def __init__(self) -> None:
        self.checked = 0
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        self.broken: BrokenLink | None = None

    def feed(self, records: Iterable[AuditRecord]) -> BrokenLink | None:
        for record in records:
            if self.broken is not None:
                break
            self.broken = self._check(record)
            if self.broken is None:
                self.checked += 1
                self.last_seq, self.last_hash = record.seq, record.hash
        return self.broken

    def finish(self, head_seq: int, head_hash: str) -> BrokenLink | None:
        """Compare the walk's end with the recorded chain head (catches a deleted tail)."""
        if self.broken is None and (head_seq, head_hash) != (self.last_seq, self.last_hash):
            self.broken = BrokenLink(
                self.last_seq + 1,
                None,
                f"the chain head says seq={head_seq} but the log ends at seq={self.last_seq} "
                "(rows after it were deleted or the head was edited)",
            )
        return self.broken

    def _check(self, record: AuditRecord) -> BrokenLink | None:
        if record.seq != self.last_seq + 1:
            return BrokenLink(
                record.seq, record.event_id, f"expected seq={self.last_seq + 1} (a row is missing)"
            )
        if record.prev_hash != self.last_hash:
            return BrokenLink(record.seq, record.event_id, "prev_hash does not match the previous row's hash")
        if record_hash(record) != record.hash:
            return BrokenLink(record.seq, record.event_id, "the row's content does not match its hash")
        return None
