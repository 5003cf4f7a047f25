"""Fakes that record state: a publisher whose `published` list tests read, a fast hasher."""

from __future__ import annotations

from parley_contracts import DomainEvent


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.up = True

    async def publish(self, event: DomainEvent) -> None:
        if not self.up:
            from parley_auth.adapters.rabbit import BrokerUnavailable

            raise BrokerUnavailable("down")
        self.published.append(event)

    async def connected(self) -> bool:
        return self.up

    def of_type(self, type_: str) -> list[DomainEvent]:
        return [e for e in self.published if e.type == type_]
