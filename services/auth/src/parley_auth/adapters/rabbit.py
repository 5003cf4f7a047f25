"""RabbitMQ through FastStream's FastAPI integration: the broker's lifespan is
the app's; domain events are published on `chat.events` with confirms."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from parley_contracts import DomainEvent, QuotaExceeded, QuotaRestored, UserAccessChanged, UserRegistered
from parley_contracts.catalog import CatalogUpdated
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.fastapi_broker import RabbitMessage, RabbitRouter
from parley_platform.rabbit import rabbit_exchange

__all__ = ["BrokerUnavailable", "RabbitMessage", "RabbitPublisher", "RabbitRouter"]

log = logging.getLogger(__name__)

_PING_TIMEOUT_S = 0.5


class BrokerUnavailable(RuntimeError):
    pass


class RabbitPublisher:
    """`EventPublisher` over the router's broker: `user.registered`, `user.access_changed`,
    `quota.exceeded|restored`, `catalog.updated`."""

    def __init__(self, router: RabbitRouter, *, timeout_s: float, user_id: str) -> None:
        self._router = router
        self._timeout_s = timeout_s
        self._user_id = user_id
        exchange = rabbit_exchange(CHAT_EVENTS)
        self._publishers = {
            model.model_fields["type"].default: router.publisher(
                exchange=exchange,
                routing_key=model.model_fields["type"].default,
                persist=True,
                title=f"chat.events:{model.model_fields['type'].default}",
                schema=model,
            )
            for model in (UserRegistered, UserAccessChanged, QuotaExceeded, QuotaRestored, CatalogUpdated)
        }

    async def connected(self) -> bool:
        try:
            return await self._router.broker.ping(_PING_TIMEOUT_S)
        except Exception:
            return False

    async def publish(self, event: DomainEvent) -> None:
        publisher: Any = self._publishers[event.type]
        try:
            async with asyncio.timeout(self._timeout_s):
                await publisher.publish(
                    event.to_json(),
                    content_type="application/json",
                    message_type=event.type,
                    message_id=str(event.event_id),
                    user_id=self._user_id,
                    timeout=self._timeout_s,
                )
        except Exception as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
