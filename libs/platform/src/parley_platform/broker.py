"""The one way a Parley service talks to RabbitMQ outside its hot paths: a FastStream
`RabbitBroker` with the shared telemetry middlewares, started and stopped by the service's
own lifespan, and typed subscribers that decode each message into its event (`Inbox`),
hand it to a use case, and hold it while a store is away.

FastStream's FastAPI router is not used: that integration is deprecated (it leaves
FastStream in 1.0), and a plain broker is the same in the HTTP services and the worker.
The hot paths (session queues, a model's requests, history's batches) consume on the
broker's own aio-pika connection (`parley_platform.frames` writes their frames).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber
from prometheus_client import CollectorRegistry

from parley_contracts.envelope import Event
from parley_contracts.topology import QueueSpec
from parley_platform.inbox import Inbox
from parley_platform.outage import retry_while_unavailable
from parley_platform.rabbit import rabbit_exchange, rabbit_queue
from parley_platform.telemetry import broker_middlewares

__all__ = [
    "AckPolicy",
    "BrokerLifespan",
    "Hold",
    "RabbitBroker",
    "Subscription",
    "make_broker",
    "subscribe",
]

E = TypeVar("E", bound=Event)

Hook = Callable[[], Awaitable[None]]


def make_broker(
    amqp_url: str,
    *,
    app_name: str,
    metrics_registry: CollectorRegistry,
    reconnect_interval_s: float = 5.0,
    graceful_timeout_s: float | None = 5.0,
    logger: logging.Logger | None = None,
) -> RabbitBroker:
    """`graceful_timeout_s` None: a subscriber's stop cancels its consumer at once."""
    return RabbitBroker(
        amqp_url,
        middlewares=broker_middlewares(metrics_registry, app_name=app_name),
        reconnect_interval=reconnect_interval_s,
        graceful_timeout=graceful_timeout_s,
        # Per-message service logs at DEBUG: heartbeats would flood INFO.
        logger=logger or logging.getLogger(f"{app_name.replace('-', '_')}.broker"),
        log_level=logging.DEBUG,
        app_id=app_name,
    )


class BrokerLifespan:
    """A broker started with its app and stopped with it, with hooks run once it is connected
    and before it stops (a FastAPI app passes `run` as its lifespan)."""

    def __init__(self, broker: RabbitBroker) -> None:
        self.broker = broker
        self._started: list[Hook] = []
        self._stopping: list[Hook] = []

    def after_startup(self, hook: Hook) -> Hook:
        self._started.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        self._stopping.append(hook)
        return hook

    @contextlib.asynccontextmanager
    async def run(self, _app: Any = None) -> AsyncIterator[None]:
        await self.broker.start()
        try:
            for hook in self._started:
                await hook()
            yield
            for hook in self._stopping:
                await hook()
        finally:
            await self.broker.stop()


@dataclass(frozen=True)
class Hold:
    """Keep a message (unacked) and try its use case again while its store is away."""

    unavailable: tuple[type[BaseException], ...]
    initial_s: float
    max_s: float
    on_retry: Callable[[], None] = lambda: None


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """The body as it came: the inbox decodes it, so a body that is not JSON is dropped there,
    not failed inside FastStream."""
    return message.body


def subscribe(
    broker: RabbitBroker,
    queue: QueueSpec,
    inbox: Inbox[E],
    handle: Callable[[E], Awaitable[None]],
    *,
    title: str,
    ack_policy: AckPolicy = AckPolicy.ACK_FIRST,
    hold: Hold | None = None,
    prefetch: int | None = None,
) -> Subscription:
    """Consume `queue` (declared with its bindings) on a channel of its own: each message read by
    `inbox` (dropped with one log line when it must be) and its event handed to `handle`.

    A channel each, because subscribers stopped at once on a shared channel can race each
    other's basic.cancel at shutdown ("Channel closed by RPC timeout").

    Messages of one queue may reach `handle` out of order: aiormq runs each delivery in a task
    of its own, and FastStream's steps before the handler can let a later one pass (seen under
    load). A use case must not depend on arrival order: it compares the events' own times (as
    the gateway's `BlockedUsers` does) or is idempotent."""
    first = queue.bindings[0] if queue.bindings else None
    subscriber = broker.subscriber(
        rabbit_queue(queue, routing_key=first.routing_key if first else ""),
        rabbit_exchange(first.exchange) if first else None,
        channel=Channel(prefetch_count=prefetch),
        ack_policy=ack_policy,
        no_reply=True,
        decoder=raw_body,
        title=title,
    )

    async def run(event: E) -> None:
        if hold is None:
            await handle(event)
            return
        await retry_while_unavailable(
            lambda: handle(event),
            unavailable=hold.unavailable,
            what=f"{event.type} {event.event_id}",
            initial_s=hold.initial_s,
            max_s=hold.max_s,
            on_retry=hold.on_retry,
        )

    @subscriber
    async def on_message(message: RabbitMessage) -> None:
        event = inbox.read(message.body, sender=message.raw_message.user_id, message_id=message.message_id)
        if event is not None:
            await run(event)

    return Subscription(broker, queue, subscriber)


@dataclass(frozen=True)
class Subscription:
    broker: RabbitBroker
    queue: QueueSpec
    subscriber: RabbitSubscriber

    async def bind_rest(self) -> None:
        """Bind the queue with its bindings past the first, once the broker started: FastStream
        binds a subscriber's queue with one routing key. aio-pika's robust queue remembers
        them and binds them again after a reconnect."""
        declared = await self.broker.declare_queue(rabbit_queue(self.queue))
        for binding in self.queue.bindings[1:]:
            source = await self.broker.declare_exchange(rabbit_exchange(binding.exchange))
            await declared.bind(source, routing_key=binding.routing_key, arguments=dict(binding.arguments))
