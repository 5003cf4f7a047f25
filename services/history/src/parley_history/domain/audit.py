"""The audit log's hash chain: each row's hash covers its content and the previous hash,
so that editing, deleting or reordering any row breaks every hash after it. The chain is
unkeyed, so whoever may write the table could recompute it: each row and the chain head are
therefore also signed, an HMAC of (seq, hash) under a key the database never holds."""

from __future__ import annotations

import hashlib
import hmac
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
    mac: str | None = None
    """The row's signature (`AuditKey.sign_row`); None on rows written before the key was set."""
    mac_key_id: str | None = None


class AuditKey:
    """Signs the chain: HMAC-SHA256 under a key derived from a secret (PARLEY_HISTORY_AUDIT_KEY).
    A row's signature covers its seq and hash, and so, through the chain, every row before it;
    the head's (a separate label) says where the chain ended when it was last written."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"parley-history audit chain v1", hashlib.sha256).digest()
        self.key_id = hmac.new(self._key, b"key id", hashlib.sha256).hexdigest()[:16]
        """Names the key (not secret): a row signed under another key says so."""

    def sign_row(self, seq: int, hash: str) -> str:
        return self._mac(b"row", seq, hash)

    def sign_head(self, seq: int, hash: str) -> str:
        return self._mac(b"head", seq, hash)

    def _mac(self, label: bytes, seq: int, hash: str) -> str:
        message = b"%s:%d:%s" % (label, seq, hash.encode("ascii"))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


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


@dataclass(frozen=True)
class ChainHead:
    """The `audit_head` row: where the chain ended when it was last written, and its signature."""

    seq: int
    hash: str
    mac: str | None = None
    mac_key_id: str | None = None


@dataclass(frozen=True)
class ChainReport:
    checked: int
    """Good rows, from seq=1 on."""
    broken: BrokenLink | None
    unsigned: int = 0
    """Of the good rows, those written before the key was set (the first ones)."""


class ChainVerifier:
    """Walks rows in `seq` order and names the first one that breaks the chain.

    With `key`, signed rows must carry its signature. Rows written before the key was set are
    unsigned: their hashes are checked as before and they are counted (`unsigned`), but only
    before the first signed row (an unsigned row after it had its signature stripped), and not
    at all with `require_signed`."""

    def __init__(self, key: AuditKey | None = None, *, require_signed: bool = False) -> None:
        self.key = key
        self.require_signed = require_signed
        self.checked = 0
        self.unsigned = 0
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        self.broken: BrokenLink | None = None

    def feed(self, records: Iterable[AuditRecord]) -> BrokenLink | None:
        for record in records:
            if self.broken is not None:
                break
            self.broken = self._check(record) or self._check_signature(record)
            if self.broken is None:
                self.checked += 1
                self.unsigned += record.mac is None
                self.last_seq, self.last_hash = record.seq, record.hash
        return self.broken

    def finish(self, head: ChainHead) -> BrokenLink | None:
        """Compare the walk's end with the recorded chain head (catches a deleted tail)."""
        if self.broken is None and (head.seq, head.hash) != (self.last_seq, self.last_hash):
            self.broken = BrokenLink(
                self.last_seq + 1,
                None,
                f"the chain head says seq={head.seq} but the log ends at seq={self.last_seq} "
                "(rows after it were deleted or the head was edited)",
            )
        if self.broken is None:
            problem = self._signature_problem(head.mac, head.mac_key_id, head.seq, head.hash, head=True)
            if problem is not None:
                self.broken = BrokenLink(head.seq, None, f"the chain head: {problem}")
        return self.broken

    def report(self) -> ChainReport:
        return ChainReport(self.checked, self.broken, self.unsigned)

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

    def _check_signature(self, record: AuditRecord) -> BrokenLink | None:
        problem = self._signature_problem(record.mac, record.mac_key_id, record.seq, record.hash, head=False)
        return None if problem is None else BrokenLink(record.seq, record.event_id, problem)

    def _signature_problem(
        self, mac: str | None, key_id: str | None, seq: int, hash: str, *, head: bool
    ) -> str | None:
        """Why this signature is not good."""
        if mac is None:
            if self.checked > self.unsigned:  # rows before it were signed
                return "not signed, although the rows before it are (its signature was removed)"
            if self.require_signed and (seq > 0 or not head):
                return "not signed (written before PARLEY_HISTORY_AUDIT_KEY was set, or stripped)"
            return None
        if self.key is None:
            return "signed, but no key was given to check it (PARLEY_HISTORY_AUDIT_KEY)"
        if key_id != self.key.key_id:
            return f"signed with another key (key id {key_id}; PARLEY_HISTORY_AUDIT_KEY is {self.key.key_id})"
        expected = self.key.sign_head(seq, hash) if head else self.key.sign_row(seq, hash)
        if not hmac.compare_digest(mac, expected):
            return "the signature does not match (rewritten without the audit key)"
        return None
