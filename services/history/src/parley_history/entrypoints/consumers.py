"""The `history.events` consumer: in queue order, acked only once stored. What has
arrived together (up to the prefetch) is stored in one transaction; a lone event
in one of its own. A database outage holds the current messages (no ack) and
retries them with backoff; an unreadable event is dead-lettered and acked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from opentelemetry import trace

from parley_contracts import DomainEvent, UnsupportedEvent, utcnow
from parley_contracts.topology import HISTORY_EVENTS
from parley_history import services
from parley_history.adapters.metrics import HistoryMetrics
from parley_history.adapters.rabbit import dead_letter, open_history_queue
from parley_history.domain.errors import StoreUnavailable
from parley_history.ports import EventPublisher, HistoryStore
from parley_history.settings import Settings
from parley_platform.outage import Stopped, retry_while_unavailable
from parley_platform.telemetry import consume_span

log = logging.getLogger(__name__)

_DEPTH_INTERVAL_S = 5.0

T = TypeVar("T")


class EventConsumer:
    def __init__(
        self,
        settings: Settings,
        *,
        store: HistoryStore,
        publisher: EventPublisher | None,
        metrics: HistoryMetrics,
    ) -> None:
        self._settings = settings
        self._store = store
        self._publisher = publisher
        self._metrics = metrics
        self._inbox = services.inbox(settings.senders)
        self._stopping = asyncio.Event()
        self.connected = False
        self.handled = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; reconnects when the broker goes away."""
        while not self._stopping.is_set():
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                log.warning("history consumer lost RabbitMQ (%s: %s); retrying", type(exc).__name__, exc)
                await self._sleep(self._settings.reconnect_interval_s)

    async def _consume(self) -> None:
        connection = await aio_pika.connect(self._settings.amqp_url, timeout=10)
        try:
            queue, channel = await open_history_queue(
                connection,  # type: ignore[arg-type]
                prefetch=self._settings.prefetch,
                dead_letter_queue=self._settings.dead_letter_queue,
            )
            self.connected = True
            log.info("consuming %s (prefetch %d)", queue.name, self._settings.prefetch)
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

            async def take(message: AbstractIncomingMessage) -> None:
                inbox.put_nowait(message)

            await queue.consume(take, no_ack=False)
            last_depth = 0.0
            stop = asyncio.ensure_future(self._stopping.wait())
            closed = asyncio.ensure_future(channel.closed())
            try:
                while not self._stopping.is_set():
                    receive = asyncio.ensure_future(inbox.get())
                    done, _ = await asyncio.wait({receive, stop, closed}, return_when=asyncio.FIRST_COMPLETED)
                    if receive not in done:
                        receive.cancel()
                        if closed in done:
                            raise ConnectionError("the channel closed")
                        break
                    batch = [receive.result()]
                    while not inbox.empty() and len(batch) < self._settings.prefetch:
                        batch.append(inbox.get_nowait())
                    await self._handle_all(channel, batch)
                    if time.monotonic() - last_depth > _DEPTH_INTERVAL_S:
                        last_depth = time.monotonic()
                        declared = await channel.declare_queue(queue.name, passive=True)
                        self._metrics.queue_depth.set(declared.declaration_result.message_count or 0)
            finally:
                stop.cancel()
                closed.cancel()
        finally:
            self.connected = False
            await connection.close()

    async def _handle_all(self, channel: AbstractChannel, messages: list[AbstractIncomingMessage]) -> None:
        """Messages that arrived together: the readable ones in one transaction. When that
        fails for any reason but the database being away (a bug, or an event the store
        refuses), each goes its own way, so that one bad event does not hold the others."""
        if len(messages) == 1:
            await self._handle(channel, messages[0])
            return
        readable: list[tuple[AbstractIncomingMessage, DomainEvent]] = []
        for message in messages:
            try:
                event = services.decode(message.body, sent_by=message.user_id, read=self._inbox)
            except UnsupportedEvent:
                await self._handle(channel, message)  # dead-lettered there, with its reason
                continue
            readable.append((message, event))
        if not readable:
            return
        spans = [_consume_span(message) for message, _ in readable]
        try:
            if await self._store_together(readable):
                return
        finally:
            for span in spans:
                span.end()
        for message, _ in readable:
            await self._handle(channel, message)

    async def _store_together(self, readable: list[tuple[AbstractIncomingMessage, DomainEvent]]) -> bool:
        """Store and ack them all: False (nothing stored, nothing acked) when they must go
        one by one."""
        messages = [message for message, _ in readable]
        try:
            done = await self._while_database_away(
                messages,
                lambda: services.handle_events(
                    [(event, message.body) for message, event in readable],
                    store=self._store,
                    publisher=self._publisher,
                    title_reply_to=self._title_reply_to,
                ),
            )
        except Exception:
            log.exception("could not store %d events together; storing them one by one", len(readable))
            return False
        if done is not None:
            handled, seconds = done
            for message, one in zip(messages, handled, strict=True):
                await message.ack()
                self._stored(one, seconds / len(messages))
        return True

    async def _handle(self, channel: AbstractChannel, message: AbstractIncomingMessage) -> None:
        with trace.use_span(_consume_span(message), end_on_exit=True):
            await self._store_event(channel, message)

    async def _store_event(self, channel: AbstractChannel, message: AbstractIncomingMessage) -> None:
        try:
            done = await self._while_database_away(
                [message],
                lambda: services.handle_event(
                    message.body,
                    store=self._store,
                    publisher=self._publisher,
                    title_reply_to=self._title_reply_to,
                    sent_by=message.user_id,
                    read=self._inbox,
                ),
            )
        except UnsupportedEvent as exc:
            log.warning(
                "rejecting message %s (routing key %r) to %s: %s",
                message.message_id,
                message.routing_key,
                self._settings.dead_letter_queue,
                exc.reason,
            )
            await self._dead_letter(channel, message, exc.reason)
            await message.ack()
            self._metrics.events.labels(exc.type or "unknown", "rejected").inc()
            return
        except Exception as exc:  # a bug must not block the queue either
            log.exception("failed to store message %s; dead-lettering it", message.message_id)
            await self._dead_letter(channel, message, f"internal error: {exc!r}")
            await message.ack()
            self._metrics.events.labels("unknown", "failed").inc()
            return
        if done is not None:
            handled, seconds = done
            await message.ack()
            self._stored(handled, seconds)

    async def _while_database_away(
        self, messages: list[AbstractIncomingMessage], store: Callable[[], Awaitable[T]]
    ) -> tuple[T, float] | None:
        """`store()`, tried again with backoff while the database is away, the messages held
        unacked: its result and the seconds its last try took; None when the consumer stops
        meanwhile (the messages go back to the queue)."""

        async def timed() -> tuple[T, float]:
            started = time.perf_counter()
            return await store(), time.perf_counter() - started

        settings = self._settings
        try:
            return await retry_while_unavailable(
                timed,
                unavailable=(StoreUnavailable,),
                what=f"{len(messages)} message(s)",
                initial_s=settings.retry_initial_s,
                max_s=settings.retry_max_s,
                on_retry=self._metrics.store_retries.inc,
                stopping=self._stopping,
            )
        except Stopped:
            for message in messages:
                await message.nack(requeue=True)
            return None

    async def _dead_letter(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, reason: str
    ) -> None:
        settings = self._settings
        await dead_letter(channel, settings.dead_letter_queue, message, reason, user_id=settings.broker_user)

    @property
    def _title_reply_to(self) -> str | None:
        return self._settings.title_reply_to if self._settings.title_requests else None

    def _stored(self, handled: services.Handled, seconds: float) -> None:
        self.handled += 1
        event = handled.event
        result = "duplicate" if handled.applied.duplicate else "stored"
        self._metrics.events.labels(event.type, result).inc()
        self._metrics.handle_seconds.observe(seconds)
        self._metrics.lag.set(max(0.0, (utcnow() - event.occurred_at).total_seconds()))
        log.debug("%s %s event_id=%s", result, event.type, event.event_id)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _consume_span(message: AbstractIncomingMessage) -> trace.Span:
    return consume_span(HISTORY_EVENTS.name, message.headers, message.message_id)
