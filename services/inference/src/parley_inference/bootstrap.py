"""Composition root: settings -> adapters -> use cases -> a `Worker`.

Tests pass their own catalog, chat model or sink; everything else is real.
"""

from __future__ import annotations

import asyncio
import logging
import os

from prometheus_client import CollectorRegistry

from parley_contracts import new_id
from parley_contracts.topology import CHAT_CONTROL, CHAT_EVENTS, Binding, private_queue
from parley_inference.adapters.llm import OpenAIChatModel
from parley_inference.adapters.metrics import PrometheusMetrics
from parley_inference.adapters.models_file import load_models_file
from parley_inference.adapters.provider_errors import ProviderTimeouts
from parley_inference.adapters.rabbit import AmqpStreamSink, BrokerEventPublisher
from parley_inference.domain.catalog import ModelCatalog, ModelsFileError, with_keys_present
from parley_inference.domain.coalescer import WindowPolicy
from parley_inference.entrypoints.worker import Worker, WorkerConfig
from parley_inference.ports import ChatModel
from parley_inference.services import Ports
from parley_inference.settings import Settings
from parley_platform.broker import RabbitBroker, make_broker
from parley_platform.sealing import Sealer

log = logging.getLogger(__name__)


class _CancelledHandlers(logging.Filter):
    """FastStream logs each handler cancelled by a lost broker connection as an ERROR with a
    traceback; what it held goes back to its queue and is handled again, so one WARNING line
    says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = (
                "handler cancelled (%s); its message returns to its queue",
                (record.exc_info[1],),
            )
            record.exc_info = record.exc_text = None
        return True


def make_worker_broker(amqp_url: str, *, metrics_registry: CollectorRegistry) -> RabbitBroker:
    # graceful_timeout None makes a subscriber's stop cancel its consumer at once: the worker
    # drains itself.
    logger = logging.getLogger("parley_inference.broker")
    if not any(isinstance(f, _CancelledHandlers) for f in logger.filters):
        logger.addFilter(_CancelledHandlers())
    return make_broker(
        amqp_url,
        app_name="parley-inference",
        metrics_registry=metrics_registry,
        graceful_timeout_s=None,
        logger=logger,
    )


def bootstrap(
    settings: Settings,
    *,
    catalog: ModelCatalog | None = None,
    model: ChatModel | None = None,
    broker: RabbitBroker | None = None,
) -> Worker:
    if catalog is None:
        catalog, left_out = with_keys_present(load_models_file(settings.models_file), os.environ)
        for line in left_out:
            log.warning("%s", line)
        if not len(catalog):
            raise ModelsFileError(f"{settings.models_file}: no model can be served ({'; '.join(left_out)})")
    metrics = PrometheusMetrics()
    broker = broker or make_worker_broker(settings.amqp_url, metrics_registry=metrics.registry)
    chat_model: OpenAIChatModel | None = None
    if model is None:
        chat_model = OpenAIChatModel(
            timeouts=ProviderTimeouts(
                connect_s=settings.provider_connect_timeout_s, read_s=settings.provider_read_timeout_s
            ),
            max_retries=settings.provider_max_retries,
            egress=settings.egress(),
        )
        model = chat_model
    sink = AmqpStreamSink(user_id=settings.broker_user)
    ports = Ports(
        catalog=catalog,
        model=model,
        stream=sink,
        events=BrokerEventPublisher(broker, user_id=settings.broker_user),
        worker_id=settings.worker_id,
        coalesce=WindowPolicy(
            base_s=settings.coalesce_window_ms / 1000,
            most_s=max(settings.coalesce_window_max_ms, settings.coalesce_window_ms) / 1000,
            busy_at=settings.coalesce_busy_at,
        ),
        metrics=metrics,
    )
    control_queue = private_queue(
        f"inference.control.{settings.worker_id}.{new_id().hex[-8:]}",
        bindings=(Binding(CHAT_CONTROL),),
    )
    catalog_queue = private_queue(
        f"inference.catalog.{settings.worker_id}.{new_id().hex[-8:]}",
        bindings=(Binding(CHAT_EVENTS, "catalog.updated"),),
    )
    return Worker(
        config=WorkerConfig(
            worker_id=settings.worker_id,
            concurrency=settings.concurrency,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            shutdown_grace_s=settings.shutdown_grace_s,
            broker_user=settings.broker_user,
            senders=settings.senders,
            metrics_port=settings.metrics_port,
            catalog_request_timeout_s=settings.catalog_request_timeout_s,
        ),
        broker=broker,
        ports=ports,
        sink=sink,
        control_queue=control_queue,
        catalog_queue=catalog_queue,
        sealer=Sealer.from_env(),
        chat_model=chat_model,
        metrics=metrics,
    )
