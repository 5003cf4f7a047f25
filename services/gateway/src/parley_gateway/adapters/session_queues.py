"""The session queues on aio-pika directly (the hot path, DESIGN section 9).

One robust connection and one shared channel with a per-consumer prefetch.
Queues and consumers are declared non-robust: aio-pika would otherwise keep
every session it ever saw and redeclare them all after a reconnect. Instead
the adapter reconsumes the sessions attached right now whenever the channel
reopens. A reconnect makes the broker requeue what was unacked; the relay
drops what it had already sent by its seq.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from parley_contracts.topology import PUBLISHER_QUEUES, declare, session_queue
from parley_gateway.domain.errors import BrokerUnavailable
from parley_gateway.ports import Delivery

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[Delivery], None]


class _Delivery:
    __slots__ = ("_message",)

    def __init__(self, message: AbstractIncomingMessage) -> None:
        self._message = message

    @property
    def body(self) -> bytes:
        return self._message.body

    async def ack(self) -> None:
        await self._message.ack()

    async def requeue(self) -> None:
        await self._message.nack(requeue=True)


class _Subscription:
    def __init__(self, owner: RabbitSessionQueues, session_id: UUID, on_delivery: DeliveryCallback) -> None:
        self._owner = owner
        self.session_id = session_id
        self._on_delivery = on_delivery
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self.cancelled = False

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # Runs first thing in its task, in delivery order: keep it synchronous.
        if self.cancelled:
            await message.nack(requeue=True)
            return
        self._on_delivery(_Delivery(message))

    async def consume(self, channel: AbstractRobustChannel) -> None:
        spec = session_queue(self.session_id)
        self._queue = await channel.declare_queue(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=spec.declare_arguments(),
            robust=False,
        )
        self._tag = await self._queue.consume(self._on_message, no_ack=False, robust=False)

    async def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self._owner._forget(self)
        if self._queue is not None and self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except Exception as exc:  # channel gone: the broker stopped the consumer already
                log.debug("session %s: consumer cancel failed: %s", self.session_id, exc)


class RabbitSessionQueues:
    """`SessionQueues` on one aio-pika connection."""

    def __init__(self, amqp_url: str, *, prefetch: int, reconnect_interval_s: float) -> None:
        self._url = amqp_url
        self._prefetch = prefetch
        self._reconnect_interval_s = reconnect_interval_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._subscriptions: set[_Subscription] = set()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._url, reconnect_interval=self._reconnect_interval_s, client_properties=_client("sessions")
        )
        async with self._connection.channel() as setup:
            # Nothing published before the first worker starts may be lost.
            await declare(setup, *PUBLISHER_QUEUES)
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._prefetch)
        channel.reopen_callbacks.add(self._on_reopen)
        self._channel = channel

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = None

    @property
    def connected(self) -> bool:
        return (
            self._connection is not None
            and self._connection.connected.is_set()
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def open(self, session_id: UUID, on_delivery: DeliveryCallback) -> _Subscription:
        if not self.connected or self._channel is None:
            raise BrokerUnavailable("not connected to RabbitMQ")
        subscription = _Subscription(self, session_id, on_delivery)
        try:
            await subscription.consume(self._channel)
        except Exception as exc:
            raise BrokerUnavailable(f"session queue: {type(exc).__name__}: {exc}") from exc
        self._subscriptions.add(subscription)
        return subscription

    def _forget(self, subscription: _Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def _on_reopen(self, channel: Any) -> None:
        if not self._subscriptions:
            return
        log.info("broker channel reopened: consuming %d session queue(s) again", len(self._subscriptions))
        for subscription in list(self._subscriptions):
            try:
                await subscription.consume(channel)
            except Exception:
                log.exception("session %s: could not consume its queue again", subscription.session_id)


def _client(role: str) -> dict[str, Any]:
    return {"connection_name": f"parley-gateway-{role}"}
