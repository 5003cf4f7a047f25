"""The signed audit chain: whoever can write the tables but lacks the key cannot rewrite a row,
recompute the plain hash chain and the head, and still pass `verify`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from parley_history.domain.audit import (
    GENESIS_HASH,
    AuditKey,
    AuditRecord,
    ChainHead,
    ChainReport,
    ChainVerifier,
    record_hash,
)

KEY = AuditKey(b"unit-test-audit-key-0123456789abcdef")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _relinked(records: list[AuditRecord], key: AuditKey | None, *, signed_from: int = 1) -> list[AuditRecord]:
    """`records` with seq, prev_hash and hash recomputed, as anyone with write access can; signed
    with `key` from `signed_from` on (a forger's rows keep whatever signature they had)."""
    out, prev = [], GENESIS_HASH
    for seq, original in enumerate(records, start=1):
        linked = replace(original, seq=seq, prev_hash=prev)
        digest = record_hash(linked)
        signer = key if seq >= signed_from else None
        out.append(
            replace(
                linked,
                hash=digest,
                mac=None if signer is None else signer.sign_row(seq, digest),
                mac_key_id=None if signer is None else signer.key_id,
            )
        )
        prev = digest
    return out


def _chain(n: int, key: AuditKey | None = KEY, *, signed_from: int = 1) -> list[AuditRecord]:
    blank = [
        AuditRecord(
            seq=0,
            event_id=uuid4(),
            type="prompt.submitted",
            version=1,
            occurred_at=T0 + timedelta(seconds=i),
            user_id="alice",
            conversation_id=None,
            body=f'{{"n": {i}}}',
            prev_hash="",
            hash="",
        )
        for i in range(n)
    ]
    return _relinked(blank, key, signed_from=signed_from)


def _head(records: list[AuditRecord], key: AuditKey | None = KEY) -> ChainHead:
    last = records[-1]
    if key is None:
        return ChainHead(last.seq, last.hash)
    return ChainHead(last.seq, last.hash, key.sign_head(last.seq, last.hash), key.key_id)


def _verify(records: list[AuditRecord], head: ChainHead, **options: bool) -> ChainReport:
    verifier = ChainVerifier(KEY, **options)
    verifier.feed(records)
    verifier.finish(head)
    return verifier.report()


def test_a_signed_chain_verifies() -> None:
    records = _chain(5)
    assert _verify(records, _head(records)) == ChainReport(5, None, unsigned=0)


def test_a_rewritten_row_with_the_plain_chain_and_head_recomputed_is_caught() -> None:
    records = _chain(5)
    records[2] = replace(records[2], body='{"n": "forged"}')
    forged = _relinked(records, None)  # hashes recomputed; the old signatures kept
    forged = [replace(f, mac=r.mac, mac_key_id=r.mac_key_id) for f, r in zip(forged, records, strict=True)]
    report = _verify(forged, ChainHead(5, forged[-1].hash, "0" * 64, KEY.key_id))
    assert report.checked == 2
    assert report.broken is not None
    assert report.broken.seq == 3
    assert "signature does not match" in report.broken.reason


def test_signatures_cannot_be_stripped_or_forged_with_another_key() -> None:
    records = _chain(4)
    stripped = records[:2] + [replace(r, mac=None, mac_key_id=None) for r in records[2:]]
    broken = _verify(stripped, ChainHead(4, records[-1].hash)).broken
    assert broken is not None
    assert (broken.seq, "signature was removed" in broken.reason) == (3, True)

    mallory = AuditKey(b"mallory's key, not the service's one")
    forged = _chain(4, mallory)
    broken = _verify(forged, _head(forged, mallory)).broken
    assert broken is not None
    assert (broken.seq, "signed with another key" in broken.reason) == (1, True)

    broken = ChainVerifier(None).feed(records)
    assert broken is not None
    assert "no key" in broken.reason


def test_the_head_is_signed_apart_from_the_rows() -> None:
    """Cutting the tail and copying the last kept row's signature into the head is caught."""
    records = _chain(5)
    kept = records[:3]
    cut = ChainHead(3, kept[-1].hash, kept[-1].mac, KEY.key_id)
    broken = _verify(kept, cut).broken
    assert broken is not None
    assert "the chain head" in broken.reason
    unsigned_head = _verify(records, ChainHead(5, records[-1].hash)).broken
    assert unsigned_head is not None
    assert "the chain head" in unsigned_head.reason


def test_rows_from_before_the_key_verify_and_are_counted_as_unsigned() -> None:
    records = _chain(6, signed_from=4)
    assert _verify(records, _head(records)) == ChainReport(6, None, unsigned=3)
    legacy = _chain(3, None)
    assert _verify(legacy, _head(legacy, None)) == ChainReport(3, None, unsigned=3)
    strict = _verify(records, _head(records), require_signed=True)
    assert strict.broken is not None
    assert (strict.broken.seq, strict.checked) == (1, 0)
