"""Publishing to RabbitMQ: the session stream (fast, ordered, no confirms) and
domain events and heartbeats (the platform's `EventPublisher`, with publisher confirms)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection
from pamqp.commands import Basic

from parley_contracts import DomainEvent, Event, WorkerHeartbeat
from parley_contracts.topology import CHAT_EVENTS, WORKER_HEARTBEATS
from parley_platform.broker import RabbitBroker
from parley_platform.frames import publish_frames, write_frames
from parley_platform.publisher import EventPublisher

log = logging.getLogger(__name__)

_CONTENT_TYPE = "application/json"

_Item = tuple[str, bytes, str, "asyncio.Future[None] | None"]

_MAX_BATCH = 512
"""Messages per write at most: one write stays well under a millisecond."""


class AmqpStreamSink:
    """Stream events to session queues (default exchange, routing key = queue).

    docs/architecture.md section 9: an awaited aio-pika publish waits for its write under a
    per-channel lock, and one awaited per token was the bottleneck. Here
    `publish` only serialises the event and appends it to an in-process queue
    (no await); one pump task takes everything queued at once and writes it
    as one batch of `basic.publish` frames on a channel without publisher
    confirms. aiormq's own `basic_publish` hands each message to the
    connection's writer through a queue of ten frames, so the pump could
    publish at most ten messages per turn of the event loop: at 200 streams
    that capped the worker near 3,000 messages/s and the backlog grew to
    seconds. One pump and one channel keep the order in which events were
    given, across all sessions: a snapshot published after some deltas
    reaches the queue after them. `publish_last` (end frames) waits until its
    batch was written out. Every message carries `user_id` (the connection's
    user: RabbitMQ refuses any other), by which consumers know its sender.
    """

    def __init__(
        self, *, user_id: str, app_id: str = "parley-inference", max_batch: int = _MAX_BATCH
    ) -> None:
        self._user_id = user_id
        self._app_id = app_id
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._channel: AbstractChannel | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._properties: dict[str, Basic.Properties] = {}
        self.published = 0
        self.dropped = 0

    async def start(self, connection: AbstractConnection) -> None:
        self._channel = await connection.channel(publisher_confirms=False)
        self._pump_task = asyncio.create_task(self._pump(self._channel), name="stream-sink-pump")

    def publish(self, reply_to: str, event: Event) -> None:
        self._queue.put_nowait((reply_to, event.to_json(), event.type, None))

    async def publish_last(self, reply_to: str, event: Event) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((reply_to, event.to_json(), event.type, done))
        await done

    def _props(self, event_type: str) -> Basic.Properties:
        props = self._properties.get(event_type)
        if props is None:
            props = Basic.Properties(
                content_type=_CONTENT_TYPE,
                delivery_mode=1,
                message_type=event_type,
                user_id=self._user_id,
                app_id=self._app_id,
            )
            self._properties[event_type] = props
        return props

    def _take_batch(self, first: _Item) -> list[_Item]:
        batch = [first]
        queue = self._queue
        while len(batch) < self._max_batch and not queue.empty():
            batch.append(queue.get_nowait())
        return batch

    async def _write(self, channel: aiormq.Channel, batch: list[_Item]) -> None:
        """All of `batch` as one write on the connection; waits for the socket
        only when someone waits for one of its messages."""
        limit = channel.max_content_size
        frames = [
            frame
            for routing_key, body, event_type, _ in batch
            for frame in publish_frames(routing_key, body, self._props(event_type), max_content_size=limit)
        ]
        await write_frames(channel, frames, wait=any(done is not None for *_, done in batch))

    async def _pump(self, channel: AbstractChannel) -> None:
        queue = self._queue
        while True:
            batch = self._take_batch(await queue.get())
            try:
                # aiormq's own channel: the robust channel's current one
                underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
                await self._write(underlay, batch)
                self.published += len(batch)
                for *_, done in batch:
                    if done is not None and not done.done():
                        done.set_result(None)
            except asyncio.CancelledError:
                for *_, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(ConnectionError("the stream publisher stopped"))
                raise
            except Exception as exc:
                self.dropped += len(batch)
                for *_, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(exc)
                log.warning("%d stream event(s) to %s... not published: %s", len(batch), batch[0][0], exc)
            finally:
                for _ in batch:
                    queue.task_done()

    async def close(self, drain_s: float = 5.0) -> None:
        """Publish what is queued (up to `drain_s`), then close the channel."""
        if self._pump_task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_s):
                    await self._queue.join()
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
            self._pump_task = None
        while not self._queue.empty():
            *_, done = self._queue.get_nowait()
            if done is not None and not done.done():
                done.set_exception(ConnectionError("the stream publisher stopped"))
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        self._channel = None


class BrokerEventPublisher:
    """Domain events to `chat.events` (routing key = event type), persistent,
    returning once RabbitMQ confirmed them."""

    def __init__(self, broker: RabbitBroker, *, user_id: str, confirm_timeout_s: float = 10.0) -> None:
        self._events = EventPublisher(broker, user_id=user_id, timeout_s=confirm_timeout_s)

    async def publish(self, event: DomainEvent) -> None:
        await self._events.publish(event, CHAT_EVENTS, mandatory=False)


class BrokerHeartbeatPublisher:
    """`worker.heartbeat` to the `inference.heartbeats` fanout; each expires
    after three intervals, when it says nothing true any more."""

    def __init__(self, broker: RabbitBroker, *, user_id: str) -> None:
        self._events = EventPublisher(broker, user_id=user_id, timeout_s=5.0)

    async def publish(self, heartbeat: WorkerHeartbeat) -> None:
        await self._events.publish(
            heartbeat,
            WORKER_HEARTBEATS,
            routing_key="",
            persist=False,
            mandatory=False,
            expiration_s=max(1.0, heartbeat.interval_s * 3),
            with_id=False,
        )
