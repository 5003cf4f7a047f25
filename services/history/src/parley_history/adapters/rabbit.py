"""RabbitMQ through aio-pika: the confirmed publisher, the dead-letter queue, and
the `audit.events` stream reader used by replay.

aio-pika rather than FastStream here: the consumer needs manual acks with a
retry loop that holds a message while the database is down, and the stream
reader needs `x-stream-offset`; both are a few lines of plain aio-pika.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from types import MappingProxyType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from opentelemetry import propagate

from parley_contracts import DomainEvent, PromptSubmitted
from parley_contracts.senders import broker_user
from parley_contracts.topology import AUDIT_EVENTS, CHAT_EVENTS, HISTORY_EVENTS, QueueSpec, prompt_headers
from parley_platform.rabbit import declare

log = logging.getLogger(__name__)


def dead_letter_spec(name: str) -> QueueSpec:
    """Where history puts events it cannot read (`HISTORY_EVENTS` has no
    dead-letter argument, so the consumer republishes them here itself)."""
    return QueueSpec(name, "quorum")


class RabbitPublisher:
    """`EventPublisher`: `chat.events`, routing key = type, persistent, confirmed."""

    def __init__(self, amqp_url: str, *, timeout_s: float = 5.0) -> None:
        self._url = amqp_url
        self._user_id = broker_user(amqp_url)
        self._timeout_s = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> aio_pika.abc.AbstractExchange:
        async with self._lock:
            if self._exchange is None:
                self._connection = await aio_pika.connect_robust(self._url, timeout=self._timeout_s)
                channel = await self._connection.channel(publisher_confirms=True)
                await declare(channel, AUDIT_EVENTS)
                self._exchange = await channel.get_exchange(CHAT_EVENTS.name)
            return self._exchange

    async def publish(self, event: DomainEvent) -> None:
        exchange = await self._ready()
        # A title request is a prompt: its model header routes it to that model's queue.
        headers: dict[str, Any] = prompt_headers(event.model) if isinstance(event, PromptSubmitted) else {}
        propagate.inject(headers)
        await exchange.publish(
            aio_pika.Message(
                event.to_json(),
                headers=headers,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(event.event_id),
                type=event.type,
                user_id=self._user_id,
            ),
            routing_key=event.type,
            timeout=self._timeout_s,
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._exchange = None


async def open_history_queue(
    connection: AbstractRobustConnection, *, prefetch: int, dead_letter_queue: str
) -> tuple[aio_pika.abc.AbstractQueue, aio_pika.abc.AbstractChannel]:
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    await declare(channel, HISTORY_EVENTS, AUDIT_EVENTS, dead_letter_spec(dead_letter_queue))
    queue = await channel.get_queue(HISTORY_EVENTS.name, ensure=False)
    return queue, channel


async def dead_letter(
    channel: aio_pika.abc.AbstractChannel,
    queue_name: str,
    message: AbstractIncomingMessage,
    reason: str,
    *,
    user_id: str,
) -> None:
    """Copy `message` to the dead-letter queue with the reason (confirmed), before the caller acks
    it. The copy is history's (`user_id`); who sent the original stays in a header."""
    headers: dict[str, Any] = dict(message.headers or {})
    headers.update(
        {
            "x-parley-rejected-reason": reason[:1000],
            "x-parley-original-routing-key": message.routing_key,
            "x-parley-original-user-id": message.user_id or "",
        }
    )
    await channel.default_exchange.publish(
        aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            user_id=user_id,
        ),
        routing_key=queue_name,
    )


def stream_offset(offset: int | None, since: datetime | None) -> Any:
    """The `x-stream-offset` consumer argument: a number, a timestamp, or `first`."""
    if offset is not None:
        return offset
    if since is not None:
        return since
    return "first"


async def read_stream(
    amqp_url: str,
    *,
    offset: int | None = None,
    since: datetime | None = None,
    prefetch: int = 500,
    idle_s: float = 2.0,
) -> AsyncIterator[bytes]:
    """The bodies of `audit.events` from the given offset, in order; ends once no
    message arrived for `idle_s` (a stream never ends by itself). Each message is
    acked after the caller has taken it (streams need prefetch and manual acks)."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        await declare(channel, AUDIT_EVENTS)
        queue = await channel.get_queue(AUDIT_EVENTS.name, ensure=False)
        arguments = MappingProxyType({"x-stream-offset": stream_offset(offset, since)})
        async with queue.iterator(arguments=dict(arguments)) as messages:
            while True:
                try:
                    message = await asyncio.wait_for(messages.__anext__(), timeout=idle_s)
                except (TimeoutError, StopAsyncIteration):
                    return
                yield message.body
                await message.ack()
    finally:
        await connection.close()
