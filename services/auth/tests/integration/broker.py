"""`chat.events` as the tests watch it on the real RabbitMQ: a queue of their own bound to it,
and the next message on it that a test waits for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from parley_contracts.topology import CHAT_EVENTS
from parley_platform.rabbit import declare_exchange

T = TypeVar("T")


@asynccontextmanager
async def chat_events_queue(amqp_url: str, routing_key: str) -> AsyncIterator[AbstractQueue]:
    """An exclusive queue bound to `chat.events` by `routing_key`, as a gateway or a worker binds one."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(await declare_exchange(channel, CHAT_EVENTS), routing_key=routing_key)
        yield queue
    finally:
        await connection.close()


async def next_event(
    queue: AbstractQueue,
    parse: Callable[[AbstractIncomingMessage], T],
    wanted: Callable[[T], bool],
    *,
    timeout: float,
) -> T:
    """The first message `wanted` once parsed; every message is acked, the others skipped.
    TimeoutError when none comes within `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.02)
                continue
            await message.ack()
            event = parse(message)
            if wanted(event):
                return event
