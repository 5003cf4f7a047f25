"""Publishing to RabbitMQ: the session stream (fast, ordered, no confirms) and
domain events and heartbeats (through FastStream, with publisher confirms)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection
from faststream.rabbit import RabbitBroker
from pamqp.commands import Basic

from parley_contracts import DomainEvent, Event, WorkerHeartbeat
from parley_contracts.topology import CHAT_EVENTS, WORKER_HEARTBEATS, rabbit_exchange

log = logging.getLogger(__name__)

_CONTENT_TYPE = "application/json"

_Item = tuple[str, bytes, str, "asyncio.Future[None] | None"]


class AmqpStreamSink:
    """Stream events to session queues (default exchange, routing key = queue).

    DESIGN section 9: an awaited aio-pika publish waits for its write under a
    per-channel lock, and one awaited per token was the bottleneck. Here
    `publish` only serialises the event and appends it to an in-process queue
    (no await); one pump task hands each message to aiormq's `basic_publish`
    with `wait=False` on a channel without publisher confirms, which queues
    the frames for the connection's writer and returns. One pump and one
    channel keep the order in which events were given, across all sessions:
    a snapshot published after some deltas reaches the queue after them.
    `publish_last` (end frames) waits until its frames were written out.
    """

    def __init__(self, *, app_id: str = "parley-inference") -> None:
        self._app_id = app_id
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._channel: AbstractChannel | None = None
        self._pump_task: asyncio.Task[None] | None = None
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

    def _properties(self, event_type: str) -> Basic.Properties:
        return Basic.Properties(
            content_type=_CONTENT_TYPE, delivery_mode=1, message_type=event_type, app_id=self._app_id
        )

    async def _pump(self, channel: AbstractChannel) -> None:
        queue = self._queue
        while True:
            routing_key, body, event_type, done = await queue.get()
            try:
                # aiormq's own channel: its basic_publish takes `wait`
                underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
                await underlay.basic_publish(
                    body,
                    exchange="",
                    routing_key=routing_key,
                    properties=self._properties(event_type),
                    mandatory=False,
                    wait=done is not None,
                )
                self.published += 1
                if done is not None and not done.done():
                    done.set_result(None)
            except asyncio.CancelledError:
                if done is not None and not done.done():
                    done.set_exception(ConnectionError("the stream publisher stopped"))
                raise
            except Exception as exc:
                self.dropped += 1
                if done is not None and not done.done():
                    done.set_exception(exc)
                else:
                    log.warning("stream event to %s not published: %s", routing_key, exc)
            finally:
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

    def __init__(self, broker: RabbitBroker, *, confirm_timeout_s: float = 10.0) -> None:
        self._broker = broker
        self._exchange = rabbit_exchange(CHAT_EVENTS)
        self._timeout = confirm_timeout_s

    async def publish(self, event: DomainEvent) -> None:
        await self._broker.publish(
            event.to_json(),
            exchange=self._exchange,
            routing_key=event.type,
            persist=True,
            mandatory=False,
            timeout=self._timeout,
            content_type=_CONTENT_TYPE,
            message_id=str(event.event_id),
            message_type=event.type,
        )


class BrokerHeartbeatPublisher:
    """`worker.heartbeat` to the `inference.heartbeats` fanout; each expires
    after three intervals, when it says nothing true any more."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker
        self._exchange = rabbit_exchange(WORKER_HEARTBEATS)

    async def publish(self, heartbeat: WorkerHeartbeat) -> None:
        await self._broker.publish(
            heartbeat.to_json(),
            exchange=self._exchange,
            mandatory=False,
            timeout=5.0,
            expiration=max(1.0, heartbeat.interval_s * 3),
            content_type=_CONTENT_TYPE,
            message_type=heartbeat.type,
        )
