"""Last write wins by event time, not by arrival: each order-sensitive field of a projected
row remembers the version of the event that set it, `(occurred_at, event_id)`. Event ids
are unique UUIDv7s (time-ordered), so two events never tie. An event older than the
field's version leaves the field alone, whatever order the broker delivered them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from parley_contracts import DomainEvent
from parley_history.adapters.orm import FieldVersion

Version = tuple[datetime, UUID]


def version(event: DomainEvent) -> Version:
    at = event.occurred_at
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)), event.event_id


async def recorded(session: AsyncSession, entity_id: UUID, field: str) -> Version | None:
    row = await session.get(FieldVersion, (entity_id, field))
    return None if row is None else (row.occurred_at, row.event_id)


async def latest(session: AsyncSession, entity_id: UUID, field: str, event: DomainEvent) -> bool:
    """True (and `event` becomes the field's version) when no later event set the field."""
    return await _claim(session, entity_id, field, event, later=True)


async def earliest(session: AsyncSession, entity_id: UUID, field: str, event: DomainEvent) -> bool:
    """True (and `event` becomes the field's version) when no earlier event set the field
    (for "the first ...": a conversation's first prompt)."""
    return await _claim(session, entity_id, field, event, later=False)


async def record(session: AsyncSession, entity_id: UUID, field: str, event: DomainEvent) -> None:
    """`event` becomes the field's version whatever set it before (something other than time
    decided that it wins)."""
    row = await session.get(FieldVersion, (entity_id, field))
    at, event_id = version(event)
    if row is None:
        session.add(FieldVersion(entity_id=entity_id, field=field, occurred_at=at, event_id=event_id))
    else:
        row.occurred_at, row.event_id = at, event_id


async def forget(session: AsyncSession, entity_ids: Sequence[UUID]) -> None:
    """A tombstone keeps no versions: no later event changes it anyway (and so the table
    ends the same whether the delete came first or last)."""
    if entity_ids:
        await session.execute(delete(FieldVersion).where(FieldVersion.entity_id.in_(entity_ids)))


async def _claim(
    session: AsyncSession, entity_id: UUID, field: str, event: DomainEvent, *, later: bool
) -> bool:
    row = await session.get(FieldVersion, (entity_id, field))
    at, event_id = version(event)
    if row is None:
        session.add(FieldVersion(entity_id=entity_id, field=field, occurred_at=at, event_id=event_id))
        return True
    current = (row.occurred_at, row.event_id)
    if ((at, event_id) <= current) if later else ((at, event_id) >= current):
        return False
    row.occurred_at, row.event_id = at, event_id
    return True
