"""Last write wins by event time, not by arrival: each order-sensitive field of a projected
row remembers the version of the event that set it, `(occurred_at, event_id)`. Event ids
are unique UUIDv7s (time-ordered), so two events never tie. An event older than the
field's version leaves the field alone, whatever order the broker delivered them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from parley_contracts import DomainEvent

Version = tuple[datetime, UUID]


def version(event: DomainEvent) -> Version:
    at = event.occurred_at
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)), event.event_id


@dataclass
class FieldVersions:
    """The versions of one row's fields, by field name."""

    by_field: dict[str, Version] = field(default_factory=dict)

    def recorded(self, name: str) -> Version | None:
        return self.by_field.get(name)

    def latest(self, name: str, event: DomainEvent) -> bool:
        """True (and `event` becomes the field's version) when no later event set the field."""
        return self._claim(name, event, later=True)

    def earliest(self, name: str, event: DomainEvent) -> bool:
        """True (and `event` becomes the field's version) when no earlier event set the field
        (for "the first ...": a conversation's first prompt)."""
        return self._claim(name, event, later=False)

    def record(self, name: str, event: DomainEvent) -> None:
        """`event` becomes the field's version whatever set it before (something other than
        time decided that it wins)."""
        self.by_field[name] = version(event)

    def forget(self) -> None:
        """A tombstone keeps no versions: no later event changes it anyway (and so the
        versions end the same whether the delete came first or last)."""
        self.by_field.clear()

    def _claim(self, name: str, event: DomainEvent, *, later: bool) -> bool:
        new = version(event)
        current = self.by_field.get(name)
        if current is not None and ((new <= current) if later else (new >= current)):
            return False
        self.by_field[name] = new
        return True
