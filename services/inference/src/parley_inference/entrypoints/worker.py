"""A running worker: start, heartbeats, graceful stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aio_pika.abc import AbstractRobustConnection

from parley_contracts import WorkerHeartbeat
from parley_contracts.catalog import CatalogUpdated
from parley_contracts.senders import Senders
from parley_contracts.topology import INFERENCE_DEAD, QueueSpec
from parley_inference.adapters.llm import OpenAIChatModel
from parley_inference.adapters.metrics import PrometheusMetrics
from parley_inference.adapters.rabbit import AmqpStreamSink, BrokerHeartbeatPublisher
from parley_inference.domain.catalog import ModelCatalog, from_catalog_event
from parley_inference.entrypoints.catalog_request import current_catalog
from parley_inference.entrypoints.consumers import Subscribers, register
from parley_inference.entrypoints.heartbeats import Heartbeats
from parley_inference.entrypoints.requests import (
    InFlight,
    RequestConsumer,
    RequestLane,
    fail_waiting_requests,
    plan_lanes,
    request_lanes,
)
from parley_inference.services import Ports, abort_generations
from parley_platform.broker import RabbitBroker
from parley_platform.rabbit import declare, unbind_queue
from parley_platform.sealing import Sealer

log = logging.getLogger(__name__)

_ABORT_WAIT_S = 10.0


class StartupError(RuntimeError):
    """The worker cannot start; the message says why, for people."""


class BrokerUnavailable(StartupError):
    """RabbitMQ cannot be reached."""


@dataclass(frozen=True)
class WorkerConfig:
    worker_id: str
    concurrency: int
    """For models whose entry sets none."""
    heartbeat_interval_s: float
    shutdown_grace_s: float
    broker_user: str
    """The `user_id` of every message the worker publishes: its connection's user."""
    senders: Senders = field(default_factory=Senders)
    """Who may send the worker what; by default anyone (one credential for all)."""
    metrics_port: int | None = None
    catalog_request_timeout_s: float = 2.0
    """How long a starting worker waits for the runtime catalogue (then serves its models file)."""


class Worker:
    """One inference worker process's broker side. `start` returns once it
    consumes; `stop` drains it (see `stop`)."""

    def __init__(
        self,
        *,
        config: WorkerConfig,
        broker: RabbitBroker,
        ports: Ports,
        sink: AmqpStreamSink,
        control_queue: QueueSpec,
        catalog_queue: QueueSpec,
        sealer: Sealer | None = None,
        chat_model: OpenAIChatModel | None = None,
        metrics: PrometheusMetrics | None = None,
    ) -> None:
        self.config = config
        self.broker = broker
        self.ports = ports
        self.sink = sink
        self.chat_model = chat_model
        self.metrics = metrics
        self.in_flight = InFlight()
        self._heartbeats = Heartbeats(
            BrokerHeartbeatPublisher(broker, user_id=config.broker_user),
            now=self.heartbeat,
            interval_s=config.heartbeat_interval_s,
        )
        self._stopping = False
        self._started = False
        self._connection: AbstractRobustConnection | None = None
        self._sealer = sealer
        self._catalog_revision = -1
        self._lanes_lock = asyncio.Lock()
        self._retired: list[RequestConsumer] = []
        """Consumers of models no longer served: their channels stay until the worker stops, for
        the acks of the generations still running."""
        self.lanes = request_lanes(ports.catalog, default_concurrency=config.concurrency)
        self.subscribers: Subscribers = register(
            broker,
            ports=ports,
            lanes=self.lanes,
            control_queue=control_queue,
            catalog_queue=catalog_queue,
            on_catalog=self.apply_catalog_event,
            in_flight=self.in_flight,
            senders=config.senders,
        )

    @property
    def worker_id(self) -> str:
        return self.config.worker_id

    def ready(self) -> bool:
        """Taking prompts: started, not stopping, its broker connection open
        (read from the metrics server's thread: plain attribute reads)."""
        connection = self._connection
        connected = connection is not None and connection.connected.is_set()
        return self._started and not self._stopping and connected

    async def start(self) -> None:
        """Serve metrics, connect, declare the topology, consume, announce.
        Raises `StartupError` (one line for people) when it cannot."""
        if self.metrics is not None and self.config.metrics_port is not None:
            try:
                self.metrics.serve(self.config.metrics_port, ready=self.ready)
            except OSError as exc:
                raise StartupError(
                    f"cannot serve metrics on port {self.config.metrics_port}: {exc.strerror or exc}"
                ) from None
        try:
            connection = await self.broker.connect()
        except (OSError, ConnectionError) as exc:
            raise BrokerUnavailable(f"cannot connect to RabbitMQ: {exc}") from None
        self._connection = connection
        channel = await connection.channel()
        try:
            # Each model's requests queue is declared by its consumer, on its own robust channel.
            await declare(channel, INFERENCE_DEAD)
        finally:
            await channel.close()
        await self.sink.start(connection)
        if self.chat_model is not None:
            self.chat_model.warm_up(self.ports.catalog)
        await self.broker.start()
        for consumer in self.subscribers.requests.values():
            await consumer.start(connection)
        await self._request_catalog()
        await self._heartbeats.beat()
        self._heartbeats.start()
        self._started = True
        log.info(
            "worker %s serving models %s",
            self.worker_id,
            ", ".join(f"{lane.model} ({lane.prefetch} at once)" for lane in self.lanes),
        )

    # The runtime catalogue.

    async def _request_catalog(self) -> None:
        """Apply the current catalogue, if its owner (auth) answers; the models file until then."""
        config = self.config
        event = await current_catalog(
            self.broker,
            timeout_s=config.catalog_request_timeout_s,
            user_id=config.broker_user,
            senders=config.senders,
        )
        if event is not None:
            await self.apply_catalog_event(event)

    async def apply_catalog_event(self, event: CatalogUpdated) -> None:
        if event.revision <= self._catalog_revision:
            log.info("catalogue revision %d ignored: %d is applied", event.revision, self._catalog_revision)
            return
        catalog, left_out = from_catalog_event(event, self._sealer)
        for line in left_out:
            log.warning("%s", line)
        self._catalog_revision = event.revision
        await self.apply_catalog(catalog)
        log.info("catalogue revision %d applied: serving models %s", event.revision, list(catalog.names))

    async def apply_catalog(self, catalog: ModelCatalog) -> None:
        """Serve `catalog` from now on: running generations go on with the model
        they started with; lanes of models gone (or changed) stop taking prompts,
        lanes of new models start. Then a heartbeat tells the gateways."""
        if self._stopping:
            return
        async with self._lanes_lock:
            plan = plan_lanes(self.lanes, request_lanes(catalog, default_concurrency=self.config.concurrency))
            for model, wanted, kept in plan.kept_prefetch:
                log.warning(
                    "model %s: concurrency %d applies when this worker restarts (now %d)", model, wanted, kept
                )
            for lane in plan.retired:
                consumer = self.subscribers.requests.pop(lane.model, None)
                if consumer is not None:
                    await consumer.stop()
                    self._retired.append(consumer)
            self.ports.catalog = catalog
            if self.chat_model is not None:
                self.chat_model.warm_up(catalog)
            await self._start_lanes(
                [lane for lane in plan.started if lane.model not in self.subscribers.requests]
            )
            self.lanes = plan.lanes
        await self._heartbeats.beat()
        await self._retire_lanes(plan.retired)

    async def _retire_lanes(self, lanes: list[RequestLane]) -> None:
        """The models no longer served: their queues take no new prompt, and the
        prompts waiting in them end with `model_unavailable` (running ones finish)."""
        if not lanes:
            return
        try:
            channel = await (await self.broker.connect()).channel()
            try:
                for lane in lanes:
                    queue = await unbind_queue(channel, lane.queue)
                    failed = await fail_waiting_requests(queue, ports=self.ports, senders=self.config.senders)
                    log.info("model %s retired: %d waiting prompt(s) failed", lane.model, failed)
            finally:
                await channel.close()
        except Exception:
            # Its prompts wait on: another worker retiring the model, or the model served again, ends them.
            log.exception("could not retire the queues of %s", [lane.model for lane in lanes])

    async def _start_lanes(self, lanes: list[RequestLane]) -> None:
        if not lanes:
            return
        connection = await self.broker.connect()
        for lane in lanes:
            consumer = RequestConsumer(
                lane, ports=self.ports, in_flight=self.in_flight, senders=self.config.senders
            )
            await consumer.start(connection)
            self.subscribers.requests[lane.model] = consumer

    def heartbeat(self) -> WorkerHeartbeat:
        """What the worker announces now: the models whose queues it consumes (not the
        catalogue's, which is ahead of them while a new model's queue is being declared: a
        gateway would route to a queue not bound yet, and the prompt meet `model_unavailable`)."""
        capacity = sum(lane.prefetch for lane in self.lanes)
        free = 0 if self._stopping else max(0, capacity - len(self.ports.active))
        return WorkerHeartbeat(
            worker_id=self.worker_id,
            models=tuple(lane.model for lane in self.lanes),
            capacity=capacity,
            free_slots=free,
            interval_s=self.config.heartbeat_interval_s,
            stopping=self._stopping,
        )

    async def stop(self) -> None:
        """Stop taking requests at once, let the running generations finish
        within the grace period, requeue what is left, then disconnect."""
        if self._stopping:
            return
        self._stopping = True
        for consumer in self.subscribers.requests.values():
            await consumer.stop()
        await self.subscribers.dead.stop()
        log.info(
            "worker %s stopping: takes no more requests, %d generation(s) in flight, grace %.1f s",
            self.worker_id,
            self.in_flight.count,
            self.config.shutdown_grace_s,
        )
        await self._heartbeats.stop()
        await self._heartbeats.beat()
        if not await self.in_flight.wait_idle(self.config.shutdown_grace_s):
            aborted = abort_generations(ports=self.ports)
            log.warning("grace period over: %d generation(s) requeued", aborted)
            await self.in_flight.wait_idle(_ABORT_WAIT_S)
        for consumer in [*self.subscribers.requests.values(), *self._retired]:
            await consumer.close()
        await self.sink.close()
        await self.broker.stop()
        if self.chat_model is not None:
            await self.chat_model.aclose()
        if self.metrics is not None:
            self.metrics.close()
        log.info("worker %s stopped", self.worker_id)
