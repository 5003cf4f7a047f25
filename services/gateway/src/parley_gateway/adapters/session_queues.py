"""The session queues on aio-pika and aiormq directly (the hot path, docs/architecture.md section 9).

One robust connection and one shared channel with a per-consumer prefetch.
Queues and consumers are declared non-robust: aio-pika would otherwise keep
every session it ever saw and redeclare them all after a reconnect. Instead
the adapter reconsumes the sessions attached right now whenever the channel
reopens. A reconnect makes the broker requeue what was unacked; the relay
drops what it had already sent by its seq.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection
from aiormq.abc import DeliveredMessage

from parley_contracts.topology import PUBLISHER_QUEUES, QueueSpec, session_queue
from parley_gateway.domain.errors import BrokerUnavailable
from parley_gateway.ports import DeliveryCallback, EventCallback
from parley_platform.frames import ack_frames, write_frames
from parley_platform.rabbit import declare, declare_queue

log = logging.getLogger(__name__)


_ACK_DELAY_S = 0.01
"""How long acks gather before they are written: a socket write costs more
than the whole ack, and a late ack only holds a prefetch slot a little longer."""


class _Acks:
    """The acks of every relay, written together at most every `_ACK_DELAY_S`.

    `IncomingMessage.ack` waits until its frame was written, and each ack was
    a socket write of its own: at 200 streams the relays' acks were an eighth
    of the gateway's time and kept them behind their queues. An ack is not
    answered by the broker, so nothing needs to wait for it: this queues it
    and one task writes all queued acks of a channel as one frame batch. Acks
    of a channel that closed meanwhile are dropped (the broker requeued those
    messages already; the relay drops what it sent before by its seq).
    """

    def __init__(self) -> None:
        self._pending: list[tuple[aiormq.abc.AbstractChannel, int]] = []
        self._writer: asyncio.Task[None] | None = None

    def add(self, channel: aiormq.abc.AbstractChannel, delivery_tag: int) -> None:
        self._pending.append((channel, delivery_tag))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            await asyncio.sleep(_ACK_DELAY_S)
            while self._pending:
                pending, self._pending = self._pending, []
                by_channel: dict[aiormq.abc.AbstractChannel, list[int]] = {}
                for channel, tag in pending:
                    by_channel.setdefault(channel, []).append(tag)
                for channel, tags in by_channel.items():
                    if not channel.is_closed:
                        await write_frames(channel, ack_frames(tags))
        except Exception as exc:  # the connection went away: the broker requeues
            log.debug("acks not written: %s", exc)
        finally:
            self._writer = None


class _Delivery:
    __slots__ = ("_acks", "_message")

    def __init__(self, message: DeliveredMessage, acks: _Acks) -> None:
        self._message = message
        self._acks = acks

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def sender(self) -> str | None:
        return self._message.header.properties.user_id

    async def ack(self) -> None:
        message = self._message
        if message.delivery_tag is not None:
            self._acks.add(message.channel, message.delivery_tag)

    async def requeue(self) -> None:
        message = self._message
        if message.delivery_tag is not None:
            await message.channel.basic_nack(message.delivery_tag, requeue=True)


class _Subscription:
    def __init__(self, owner: RabbitSessionQueues, session_id: UUID, on_delivery: DeliveryCallback) -> None:
        self._owner = owner
        self.session_id = session_id
        self._on_delivery = on_delivery
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._tag: str | None = None
        self.cancelled = False

    async def _on_message(self, message: DeliveredMessage) -> None:
        # Runs first thing in its task, in delivery order: keep it synchronous.
        if self.cancelled:
            if message.delivery_tag is not None:
                await message.channel.basic_nack(message.delivery_tag, requeue=True)
            return
        self._on_delivery(_Delivery(message, self._owner.acks))

    async def consume(self, channel: AbstractRobustChannel) -> None:
        spec = session_queue(self.session_id)
        await channel.declare_queue(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=spec.declare_arguments(),
            robust=False,
        )
        # Consumed on aiormq's channel under the robust one: aio-pika's consumer
        # wraps each message in an `IncomingMessage` and a task of its own,
        # about a tenth of the gateway's time per message at 200 streams.
        underlay = await channel.get_underlay_channel()
        ok = await underlay.basic_consume(spec.name, self._on_message, no_ack=False)
        self._channel, self._tag = underlay, ok.consumer_tag

    async def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self._owner._forget(self)
        if self._channel is not None and self._tag is not None and not self._channel.is_closed:
            try:
                await self._channel.basic_cancel(self._tag)
            except Exception as exc:  # channel gone: the broker stopped the consumer already
                log.debug("session %s: consumer cancel failed: %s", self.session_id, exc)


class RabbitSessionQueues:
    """`SessionQueuesConnection` on one aio-pika connection."""

    def __init__(self, amqp_url: str, *, prefetch: int, reconnect_interval_s: float) -> None:
        self._url = amqp_url
        self._prefetch = prefetch
        self._reconnect_interval_s = reconnect_interval_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._subscriptions: set[_Subscription] = set()
        self.acks = _Acks()

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

    async def feed(self, spec: QueueSpec, on_event: EventCallback) -> None:
        """Consume `spec` (a private queue and its bindings) with automatic acks on a channel of
        its own, restored with its bindings after a reconnect: events this gateway only takes
        note of, two per prompt. Not through FastStream, whose FastAPI integration solved
        dependencies for each message (at 200 streams an eighth of the gateway's time)."""
        if self._connection is None:
            raise BrokerUnavailable("not connected to RabbitMQ")
        channel = await self._connection.channel(publisher_confirms=False)
        queue = await declare_queue(channel, spec)

        async def deliver(message: AbstractIncomingMessage) -> None:
            headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in message.headers.items()}
            try:
                on_event(message.routing_key or "", headers, message.body, message.user_id)
            except Exception:
                log.exception("%s: could not take note of a %s event", spec.name, message.routing_key)

        await queue.consume(deliver, no_ack=True)

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

    async def depths(self, names: list[str]) -> dict[str, int | None]:
        """Ready messages of each queue (None: it does not exist, or the broker is down).
        A passive declare on a channel of its own: a missing queue closes that channel."""
        depths: dict[str, int | None] = {}
        if self._connection is None or not self.connected:
            return dict.fromkeys(names)
        for name in names:
            try:
                async with self._connection.channel() as channel:
                    queue = await channel.declare_queue(name, passive=True)
                    depths[name] = queue.declaration_result.message_count
            except Exception:
                depths[name] = None
        return depths

    async def exists(self, session_id: UUID) -> bool:
        name = session_queue(session_id).name
        return (await self.depths([name]))[name] is not None

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
