"""RabbitMQ through FastStream's FastAPI integration: the broker's lifespan is
the app's, domain events and control commands are published with confirms.
(The hot token path is in `session_queues`, on aio-pika directly.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aio_pika.exceptions import DeliveryError

from parley_contracts import CancelGeneration, Event, PromptSubmitted, RequestSnapshot
from parley_contracts.topology import CHAT_CONTROL, CHAT_EVENTS, prompt_headers
from parley_gateway.domain.errors import BrokerUnavailable
from parley_platform.fastapi_broker import RabbitMessage, RabbitRouter
from parley_platform.rabbit import rabbit_exchange

__all__ = ["RabbitMessage", "RabbitPublisher", "RabbitRouter"]

log = logging.getLogger(__name__)

_PING_TIMEOUT_S = 0.2


class RabbitPublisher:
    """`PublisherConnection` over the router's broker. Every message carries `user_id` (this
    gateway's broker user, which RabbitMQ verifies): consumers tell its events by it."""

    def __init__(self, router: RabbitRouter, *, timeout_s: float, user_id: str) -> None:
        self._router = router
        self._timeout_s = timeout_s
        self._user_id = user_id
        self._prompts = router.publisher(
            exchange=rabbit_exchange(CHAT_EVENTS),
            routing_key=PromptSubmitted.model_fields["type"].default,
            persist=True,
            title="chat.events:prompt.submitted",
            schema=PromptSubmitted,
        )
        self._control = router.publisher(
            exchange=rabbit_exchange(CHAT_CONTROL),
            mandatory=False,
            title="chat.control",
            schema=CancelGeneration | RequestSnapshot,
        )

    async def connected(self) -> bool:
        try:
            return await self._router.broker.ping(_PING_TIMEOUT_S)
        except Exception:
            return False

    async def publish_prompt(self, event: PromptSubmitted) -> None:
        # The header routes the prompt to its model's requests queue; the user and message ids let
        # every gateway count it in that user's limits without decoding it.
        headers = prompt_headers(event.model, user_id=event.user_id, message_id=event.message_id)
        await self._publish(self._prompts, event, headers=headers)

    async def publish_control(self, command: CancelGeneration | RequestSnapshot) -> None:
        await self._publish(self._control, command)

    async def _publish(self, publisher: Any, event: Event, *, headers: dict[str, str] | None = None) -> None:
        if not await self.connected():
            raise BrokerUnavailable("not connected to RabbitMQ")
        try:
            async with asyncio.timeout(self._timeout_s):
                await publisher.publish(
                    event.to_json(),
                    content_type="application/json",
                    message_type=event.type,
                    message_id=str(event.event_id),
                    headers=headers,
                    user_id=self._user_id,
                    timeout=self._timeout_s,
                )
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"no publisher confirm within {self._timeout_s} s", maybe_sent=True
            ) from exc
        except DeliveryError as exc:  # nacked or returned: the broker did not take it
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # e.g. the channel closed while the confirm was awaited
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}", maybe_sent=True) from exc
