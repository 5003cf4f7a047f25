"""The envelope every Parley event carries, and the ids it uses."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7


def new_id() -> UUID:
    """A time-ordered UUIDv7: event ids, message ids, session ids."""
    return uuid7()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: frozen, versioned, identified by a UUIDv7.

    `type` is the routing key on `chat.events`; consumers accept the
    `(type, version)` pairs they know and reject the rest (see `codec`).
    Unknown extra fields are ignored so that additive changes stay version 1.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=new_id)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
