"""RabbitMQ: domain events published on `chat.events` with confirms, through the platform's
`EventPublisher` on the service's broker (started and stopped by the app's lifespan)."""

from __future__ import annotations

from parley_auth.ports import BrokerUnavailable
from parley_contracts import DomainEvent
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.broker import RabbitBroker
from parley_platform.publisher import EventPublisher, PublishFailed

__all__ = ["RabbitPublisher"]


class RabbitPublisher:
    """`EventPublisher` of the auth ports: `user.registered`, `user.access_changed`,
    `quota.exceeded|restored`, `catalog.updated`."""

    def __init__(self, broker: RabbitBroker, *, timeout_s: float, user_id: str) -> None:
        self._events = EventPublisher(broker, user_id=user_id, timeout_s=timeout_s)

    async def connected(self) -> bool:
        return await self._events.connected()

    async def publish(self, event: DomainEvent) -> None:
        try:
            await self._events.publish(event, CHAT_EVENTS)
        except PublishFailed as exc:
            raise BrokerUnavailable(exc.reason) from exc
