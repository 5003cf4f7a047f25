"""RabbitMQ outside the hot path: prompts and control commands published with confirms through
the platform's `EventPublisher`, on the broker the app's lifespan runs. (The token path is in
`session_queues`, on aio-pika directly.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from parley_contracts import CancelGeneration, PromptSubmitted, RequestSnapshot
from parley_contracts.topology import CHAT_CONTROL, CHAT_EVENTS, prompt_headers
from parley_gateway.domain.errors import BrokerUnavailable
from parley_platform.broker import RabbitBroker
from parley_platform.publisher import EventPublisher, PublishFailed

__all__ = ["RabbitPublisher"]

_PING_TIMEOUT_S = 0.2


class RabbitPublisher:
    """`PublisherConnection` over the broker. Every message carries `user_id` (this gateway's
    broker user, which RabbitMQ verifies): consumers tell its events by it."""

    def __init__(self, broker: RabbitBroker, *, timeout_s: float, user_id: str) -> None:
        self._events = EventPublisher(broker, user_id=user_id, timeout_s=timeout_s)

    async def connected(self) -> bool:
        return await self._events.connected(_PING_TIMEOUT_S)

    async def publish_prompt(self, event: PromptSubmitted) -> None:
        # The header routes the prompt to its model's requests queue; the user and message ids let
        # every gateway count it in that user's limits without decoding it.
        headers = prompt_headers(event.model, user_id=event.user_id, message_id=event.message_id)
        await self._confirmed(lambda: self._events.publish(event, CHAT_EVENTS, headers=headers))

    async def publish_control(self, command: CancelGeneration | RequestSnapshot) -> None:
        await self._confirmed(
            lambda: self._events.publish(
                command, CHAT_CONTROL, routing_key="", persist=False, mandatory=False
            )
        )

    async def _confirmed(self, publish: Callable[[], Awaitable[None]]) -> None:
        if not await self.connected():
            raise BrokerUnavailable("not connected to RabbitMQ")
        try:
            await publish()
        except PublishFailed as exc:
            raise BrokerUnavailable(exc.reason, maybe_sent=exc.maybe_sent) from exc
