"""RabbitMQ through FastStream's FastAPI integration: the broker's lifespan is
the app's; domain events are published on `chat.events` with confirms."""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

from prometheus_client import CollectorRegistry

from parley_auth.settings import Settings
from parley_contracts import DomainEvent, QuotaExceeded, QuotaRestored, UserAccessChanged, UserRegistered
from parley_contracts.catalog import CatalogUpdated
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.rabbit import rabbit_exchange
from parley_platform.telemetry import broker_middlewares

with warnings.catch_warnings():
    # The integration still lives here in FastStream 0.7; it only warns about its future move.
    warnings.filterwarnings("ignore", message="The integration has been moved", category=DeprecationWarning)
    from faststream.rabbit.fastapi import RabbitMessage, RabbitRouter

__all__ = ["BrokerUnavailable", "RabbitMessage", "RabbitPublisher", "RabbitRouter", "make_router"]

log = logging.getLogger(__name__)

_PING_TIMEOUT_S = 0.5


class BrokerUnavailable(RuntimeError):
    pass


def make_router(settings: Settings, *, metrics_registry: CollectorRegistry) -> RabbitRouter:
    return RabbitRouter(
        settings.amqp_url,
        middlewares=broker_middlewares(metrics_registry, app_name="parley-auth"),
        reconnect_interval=settings.reconnect_interval_s,
        log_level=logging.DEBUG,
        schema_url=None,
        include_in_schema=False,
        graceful_timeout=5.0,
    )


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
