"""What the use cases need from the outside world, as small protocols."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from parley_contracts import DomainEvent


class EventPublisher(Protocol):
    async def publish(self, event: DomainEvent) -> None:
        """Publish on `chat.events` with a confirm; raises `BrokerUnavailable` when it cannot."""

    async def connected(self) -> bool: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password; `None` hash: still spends the time of a check."""

    def needs_rehash(self, password_hash: str) -> bool: ...


class Now(Protocol):
    def __call__(self) -> datetime: ...
