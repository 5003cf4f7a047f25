"""`python -m parley_gateway`: run the gateway under uvicorn with uvloop."""

from __future__ import annotations

import asyncio
import logging
import sys
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import uvicorn
from pydantic import ValidationError

from parley_contracts.telemetry import TelemetryConfigError, service_telemetry
from parley_gateway.entrypoints.app import create_app
from parley_gateway.settings import Settings

log = logging.getLogger("parley_gateway")


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


async def _broker_answers(url: str) -> str | None:
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(f"parley-gateway: invalid settings:\n{exc}\n")
        return 2
    try:
        with service_telemetry("parley-gateway", settings.log_level):
            return _serve(settings)
    except TelemetryConfigError as exc:
        sys.stderr.write(f"parley-gateway: {exc}\n")
        return 2


def _serve(settings: Settings) -> int:
    problem = asyncio.run(_broker_answers(settings.amqp_url))
    if problem is not None:
        log.error("RabbitMQ does not answer at AMQP_URL=%s (%s)", _masked(settings.amqp_url), problem)
        return 1
    app = create_app(settings)
    log.info(
        "Parley gateway starting on %s (WebSocket %s/ws)", settings.url, settings.url.replace("http", "ws", 1)
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_size,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_interval_s,
        ws_per_message_deflate=False,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
