"""RabbitMQ through FastStream's FastAPI integration, set up one way for every HTTP service:
the broker's lifespan is the app's, with the shared telemetry middlewares."""

from __future__ import annotations

import logging
import warnings

from prometheus_client import CollectorRegistry

from parley_platform.telemetry import broker_middlewares

with warnings.catch_warnings():
    # The integration still lives here in FastStream 0.7; it only warns about its future move.
    warnings.filterwarnings("ignore", message="The integration has been moved", category=DeprecationWarning)
    from faststream.rabbit.fastapi import RabbitMessage, RabbitRouter

__all__ = ["RabbitMessage", "RabbitRouter", "make_router"]


def make_router(
    amqp_url: str,
    *,
    app_name: str,
    metrics_registry: CollectorRegistry,
    reconnect_interval_s: float,
    include_in_schema: bool = True,
) -> RabbitRouter:
    return RabbitRouter(
        amqp_url,
        middlewares=broker_middlewares(metrics_registry, app_name=app_name),
        reconnect_interval=reconnect_interval_s,
        # Per-message service logs at DEBUG: heartbeats would flood INFO.
        log_level=logging.DEBUG,
        schema_url=None,
        include_in_schema=include_in_schema,
        graceful_timeout=5.0,
    )
