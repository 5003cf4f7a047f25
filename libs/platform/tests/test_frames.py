"""The batch frame writer on the real RabbitMQ, and the aiormq version it relies on."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import cast

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractRobustConnection
from pamqp.commands import Basic

from parley_platform.frames import AIORMQ_VERSION, ack_frames, publish_frames, write_frames


def test_aiormq_is_the_version_the_writer_was_written_for() -> None:
    """The writer puts frames on aiormq's internal write queue: another aiormq may have moved it.
    Read aiormq's connection.py and channel.py, then update AIORMQ_VERSION."""
    assert version("aiormq") == AIORMQ_VERSION


async def _underlay(channel: aio_pika.abc.AbstractChannel) -> aiormq.Channel:
    return cast(aiormq.Channel, await channel.get_underlay_channel())


async def test_published_in_one_write_arrive_whole_and_in_order(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel(publisher_confirms=False)
    queue = await channel.declare_queue(exclusive=True)
    underlay = await _underlay(channel)
    limit = underlay.max_content_size
    bodies = [b"first", b"x" * (limit * 2 + 7), b"third"]  # the second in three body frames
    properties = Basic.Properties(content_type="application/json", message_type="probe", delivery_mode=1)
    frames = [
        frame
        for body in bodies
        for frame in publish_frames(queue.name, body, properties, max_content_size=limit)
    ]
    await write_frames(underlay, frames, wait=True)
    received = []
    for _ in bodies:
        message = await queue.get(timeout=5, no_ack=True)
        assert message is not None
        received.append((message.body, message.type, message.content_type))
    assert received == [(body, "probe", "application/json") for body in bodies]


async def test_acks_written_together_settle_their_messages(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel(publisher_confirms=False)
    await channel.set_qos(prefetch_count=10)
    queue = await channel.declare_queue(exclusive=True)
    for i in range(5):
        await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=queue.name)
    delivered: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
    await queue.consume(delivered.put)
    tags = [(await asyncio.wait_for(delivered.get(), 5)).delivery_tag for _ in range(5)]
    await write_frames(
        await _underlay(channel), ack_frames(tag for tag in tags if tag is not None), wait=True
    )
    # Acked, nothing comes back when the consumer's channel goes (unacked messages would).
    await channel.close()
    check = await connection.channel()
    for _ in range(50):
        declared = await check.declare_queue(queue.name, passive=True)
        if declared.declaration_result.message_count == 0:
            break
        await asyncio.sleep(0.05)
    assert declared.declaration_result.message_count == 0


async def test_a_closed_channel_is_refused(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel()
    underlay = await _underlay(channel)
    await channel.close()
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await write_frames(underlay, ack_frames([1]))
