"""Fakes that record state (STYLE: assert on results and state, not calls)."""

from __future__ import annotations

from parley_contracts import DomainEvent


class FakePublisher:
    """`EventPublisher` that keeps what was published; `down` makes it fail."""

    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.down = False

    async def publish(self, event: DomainEvent) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.published.append(event)
