"""The broker topology of `parley_contracts.topology` made real: FastStream exchanges and
queues for subscribers and publishers, and aio-pika declarations with their bindings."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue
from aiormq.exceptions import ChannelNotFoundEntity
from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from parley_contracts.topology import EXCHANGES, ExchangeSpec, QueueSpec

_EXCHANGE_TYPES = {
    "topic": ExchangeType.TOPIC,
    "fanout": ExchangeType.FANOUT,
    "direct": ExchangeType.DIRECT,
    "headers": ExchangeType.HEADERS,
}
_QUEUE_TYPES = {"classic": QueueType.CLASSIC, "quorum": QueueType.QUORUM, "stream": QueueType.STREAM}


def rabbit_exchange(spec: ExchangeSpec) -> RabbitExchange:
    """A FastStream exchange for `spec`, for publishing and subscribing; its
    bindings to other exchanges are made by `declare`."""
    return RabbitExchange(
        spec.name, type=_EXCHANGE_TYPES[spec.kind], durable=spec.durable, arguments=dict(spec.arguments)
    )


def rabbit_queue(spec: QueueSpec, *, routing_key: str = "") -> RabbitQueue:
    """A FastStream queue for `spec`; FastStream binds it to the subscriber's
    exchange with `routing_key`."""
    queue: RabbitQueue = RabbitQueue(  # type: ignore[call-overload]
        spec.name,
        queue_type=_QUEUE_TYPES[spec.kind],
        durable=spec.durable,
        exclusive=spec.exclusive,
        auto_delete=spec.auto_delete,
        arguments=dict(spec.arguments),
        routing_key=routing_key,
    )
    return queue


async def declare_exchange(channel: AbstractChannel, spec: ExchangeSpec) -> AbstractExchange:
    exchange = await channel.declare_exchange(
        spec.name, aio_pika.ExchangeType(spec.kind), durable=spec.durable, arguments=dict(spec.arguments)
    )
    for binding in spec.bindings:
        source = await declare_exchange(channel, binding.exchange)
        await exchange.bind(source, routing_key=binding.routing_key, arguments=dict(binding.arguments))
    return exchange


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    queue = await channel.declare_queue(
        spec.name,
        durable=spec.durable,
        exclusive=spec.exclusive,
        auto_delete=spec.auto_delete,
        arguments=spec.declare_arguments(),
    )
    for binding in spec.bindings:
        exchange = await declare_exchange(channel, binding.exchange)
        await queue.bind(exchange, routing_key=binding.routing_key, arguments=dict(binding.arguments))
    return queue


async def unbind_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    """Take `spec` off its exchanges: no new message reaches it (a model's
    requests then go to the routing exchange's alternate: `model_unavailable`).
    What it holds stays, for the caller to drain."""
    queue = await channel.get_queue(spec.name, ensure=True)
    for binding in spec.bindings:
        exchange = await declare_exchange(channel, binding.exchange)
        await queue.unbind(exchange, routing_key=binding.routing_key, arguments=dict(binding.arguments))
    return queue


async def queue_exists(connection: AbstractConnection, name: str) -> bool:
    """Whether the broker has queue `name` (a passive declare, on a channel of its own:
    a missing queue closes the channel). The channel is closed here either way: a robust
    channel the broker closed would otherwise reopen itself, and stay open for good."""
    try:
        async with connection.channel() as channel:
            await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:
        return False
    return True


async def declare(channel: AbstractChannel, *queues: QueueSpec) -> None:
    """Declare every exchange and the given queues with their bindings."""
    for exchange in EXCHANGES:
        await declare_exchange(channel, exchange)
    for queue in queues:
        await declare_queue(channel, queue)
