"""`python -m parley_gateway`: run the gateway under uvicorn with uvloop: the public port, and
the operations port (probes, Prometheus) in the same process and event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import uvicorn
import uvloop
from pydantic import ValidationError

from parley_gateway.entrypoints.app import create_app, create_ops_app
from parley_gateway.settings import Settings
from parley_platform.telemetry import TelemetryConfigError, service_telemetry

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
        "Parley gateway starting on %s (WebSocket %s/ws); operations on %s",
        settings.url,
        settings.url.replace("http", "ws", 1),
        settings.ops_url,
    )
    public = uvicorn.Config(
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
    ops = uvicorn.Config(
        create_ops_app(app.state.gateway),
        host=settings.host,
        port=settings.ops_port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    uvloop.run(_serve_both(_PublicServer(public), _OpsServer(ops)))
    return 0


class _PublicServer(uvicorn.Server):
    """The public server, which tells when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


class _OpsServer(uvicorn.Server):
    """The operations server: it leaves the signals to the public server, and stops with it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_both(public: _PublicServer, ops: uvicorn.Server) -> None:
    """The public server, and once it listens the operations server: `/readyz` never says ready
    before the public port takes connections."""
    serving = asyncio.create_task(public.serve())
    listening = asyncio.create_task(public.listening.wait())
    await asyncio.wait({serving, listening}, return_when=asyncio.FIRST_COMPLETED)
    listening.cancel()
    ops_task = asyncio.create_task(ops.serve())
    try:
        await serving
    finally:
        ops.should_exit = True
        await ops_task


if __name__ == "__main__":
    sys.exit(main())
