"""Many AMQP frames in one write, past aiormq's one-frame-at-a-time path (docs/architecture.md
section 9).

aiormq hands each `basic_publish` or `basic_ack` to the connection's writer through a queue of
ten frames and awaits its write: at 200 streams that capped a worker near 3,000 messages/s and
made the gateway's acks an eighth of its time. Here a caller builds the frames itself and puts
them on the connection's write queue as one `ChannelFrame`, awaiting the socket only when it
asks to. That uses aiormq internals (`Connection.write_queue`, `ChannelFrame.marshall`), so
`AIORMQ_VERSION` names the version it was written against and a test fails on any other: read
aiormq's `connection.py` and `channel.py` again before changing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import aiormq
from aiormq.abc import ChannelFrame, FrameType
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

AIORMQ_VERSION = "7.2.4"

Frame = FrameType | ContentBody


def publish_frames(
    routing_key: str, body: bytes, properties: Basic.Properties, *, max_content_size: int, exchange: str = ""
) -> list[Frame]:
    """The frames of one `basic.publish` (not mandatory): method, header, body in pieces of at
    most `max_content_size` (the channel's)."""
    frames: list[Frame] = [
        Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=False),
        ContentHeader(properties=properties, body_size=len(body)),
    ]
    frames.extend(ContentBody(body[i : i + max_content_size]) for i in range(0, len(body), max_content_size))
    return frames


def ack_frames(delivery_tags: Iterable[int]) -> list[Frame]:
    return [Basic.Ack(delivery_tag=tag) for tag in delivery_tags]


async def write_frames(
    channel: aiormq.abc.AbstractChannel, frames: list[Frame], *, wait: bool = False
) -> None:
    """`frames` on `channel` as one write. With `wait`, returns once they reached the socket;
    without, once queued. Nothing is confirmed by the broker either way."""
    if channel.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
    drained: asyncio.Future[None] | None = channel.create_future() if wait else None
    await channel.connection.write_queue.put(
        ChannelFrame.marshall(channel_number=channel.number, frames=frames, drain_future=drained)
    )
    if drained is not None:
        await drained
