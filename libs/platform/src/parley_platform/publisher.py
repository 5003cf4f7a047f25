"""Publishing events with publisher confirms, one way for every service: persistent JSON on an
exchange, routed by the event's type unless told otherwise, stamped with the service's broker
user (RabbitMQ refuses any other, so consumers know the sender by it). A publish that is not
confirmed raises `PublishFailed`, which says whether the broker may have taken it anyway."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker, RabbitExchange

from parley_contracts.envelope import Event
from parley_contracts.topology import ExchangeSpec
from parley_platform.rabbit import rabbit_exchange

_PING_TIMEOUT_S = 0.5


class PublishFailed(RuntimeError):
    def __init__(self, reason: str, *, maybe_sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.maybe_sent = maybe_sent
        """The broker may have taken it (no answer came): a retry may duplicate it."""


class EventPublisher:
    def __init__(self, broker: RabbitBroker, *, user_id: str, timeout_s: float) -> None:
        self.broker = broker
        self._user_id = user_id
        self._timeout_s = timeout_s
        self._exchanges: dict[str, RabbitExchange] = {}

    async def connected(self, timeout_s: float = _PING_TIMEOUT_S) -> bool:
        try:
            return await self.broker.ping(timeout_s)
        except Exception:
            return False

    async def publish(
        self,
        event: Event,
        exchange: ExchangeSpec,
        *,
        routing_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        persist: bool = True,
        mandatory: bool = True,
        expiration_s: float | None = None,
        with_id: bool = True,
    ) -> None:
        """`event` on `exchange`, confirmed within the timeout, or `PublishFailed`."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self.broker.publish(
                    event.to_json(),
                    exchange=self._exchange(exchange),
                    routing_key=event.type if routing_key is None else routing_key,
                    mandatory=mandatory,
                    persist=persist,
                    timeout=self._timeout_s,
                    headers=dict(headers) if headers else None,
                    expiration=expiration_s,
                    content_type="application/json",
                    message_type=event.type,
                    message_id=str(event.event_id) if with_id else None,
                    user_id=self._user_id,
                )
        except TimeoutError as exc:
            raise PublishFailed(f"no publisher confirm within {self._timeout_s} s", maybe_sent=True) from exc
        except DeliveryError as exc:  # nacked or returned: the broker did not take it
            raise PublishFailed(f"{type(exc).__name__}: {exc}", maybe_sent=False) from exc
        except Exception as exc:  # e.g. the channel closed while the confirm was awaited
            raise PublishFailed(f"{type(exc).__name__}: {exc}", maybe_sent=True) from exc

    def _exchange(self, spec: ExchangeSpec) -> RabbitExchange:
        """Built once per exchange: FastStream hashes it on every publish to find its declaration."""
        exchange = self._exchanges.get(spec.name)
        if exchange is None:
            exchange = self._exchanges[spec.name] = rabbit_exchange(spec)
        return exchange
