"""Extra bindings of a FastStream-declared queue (FastStream binds a
subscriber's queue to its exchange with one routing key only)."""

from __future__ import annotations

from collections.abc import Iterable

from faststream.rabbit import RabbitQueue

from parley_contracts.topology import ExchangeSpec
from parley_gateway.adapters.rabbit import RabbitRouter
from parley_platform.rabbit import rabbit_exchange


async def bind_extra(
    router: RabbitRouter, queue: RabbitQueue, exchange: ExchangeSpec, keys: Iterable[str]
) -> None:
    """Bind `queue` (already declared by its subscriber) to `exchange` with each of `keys`.

    aio-pika's robust queue remembers the bindings and restores them after a reconnect.
    """
    broker = router.broker
    declared = await broker.declare_queue(queue)
    target = await broker.declare_exchange(rabbit_exchange(exchange))
    for key in keys:
        await declared.bind(target, routing_key=key)
