"""The audit log's write end: appending hash-chained, signed rows within one transaction
(`AuditChain`), and reading a row back as a domain `AuditRecord`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley_contracts import DomainEvent, utcnow
from parley_history.adapters.orm import AuditHead, AuditLog
from parley_history.domain.audit import AuditKey, AuditRecord, chain_hash


async def _head(session: AsyncSession) -> AuditHead:
    head = await session.get(AuditHead, 1, with_for_update=True)  # serializes writers
    if head is None:
        raise RuntimeError("audit_head is missing: run `python -m parley_history migrate`")
    return head


class AuditChain:
    """The audit log's end while one transaction appends to it. Its rows and the head are
    written once, when the transaction's events are all projected: as ORM objects they were
    flushed with each event's projection (an INSERT and an UPDATE of the head per event, a
    third of a batch's time)."""

    def __init__(self, head: AuditHead, key: AuditKey | None) -> None:
        self._head = head
        self._key = key
        self.seq = head.seq
        self.hash = head.hash
        self._rows: list[dict[str, Any]] = []

    @classmethod
    async def locked(cls, session: AsyncSession, key: AuditKey | None) -> AuditChain:
        return cls(await _head(session), key)

    def append(self, event: DomainEvent, body: str, conversation_id: UUID | None) -> None:
        seq = self.seq + 1
        digest = chain_hash(
            seq=seq,
            event_id=event.event_id,
            type=event.type,
            version=event.version,
            occurred_at=event.occurred_at,
            user_id=event.user_id,
            conversation_id=conversation_id,
            body=body,
            prev_hash=self.hash,
        )
        self._rows.append(
            {
                "seq": seq,
                "event_id": event.event_id,
                "type": event.type,
                "version": event.version,
                "occurred_at": event.occurred_at,
                "user_id": event.user_id,
                "conversation_id": conversation_id,
                "body": body,
                "prev_hash": self.hash,
                "hash": digest,
                "received_at": utcnow(),
                "mac": None if self._key is None else self._key.sign_row(seq, digest),
                "mac_key_id": None if self._key is None else self._key.key_id,
            }
        )
        self.seq, self.hash = seq, digest

    async def write(self, session: AsyncSession) -> None:
        if not self._rows:
            return
        await session.execute(insert(AuditLog), self._rows)
        self._head.seq, self._head.hash = self.seq, self.hash
        if self._key is not None:
            self._head.mac, self._head.mac_key_id = self._key.sign_head(self.seq, self.hash), self._key.key_id
        self._rows = []


def audit_record(row: AuditLog) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        event_id=row.event_id,
        type=row.type,
        version=row.version,
        occurred_at=row.occurred_at,
        user_id=row.user_id,
        conversation_id=row.conversation_id,
        body=row.body,
        prev_hash=row.prev_hash,
        hash=row.hash,
        mac=row.mac,
        mac_key_id=row.mac_key_id,
    )
