"""`python -m parley_inference`: run one inference worker until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from urllib.parse import urlsplit, urlunsplit

import uvloop
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from pydantic import ValidationError

from parley_inference.bootstrap import bootstrap
from parley_inference.domain.catalog import ModelsFileError
from parley_inference.entrypoints.worker import BrokerUnavailable, StartupError
from parley_inference.settings import Settings
from parley_platform.telemetry import TelemetryConfigError, service_telemetry

log = logging.getLogger("parley_inference")

EXIT_CONFIG = 2
EXIT_START = 3


_ENV_NAMES = {"models_file": "PARLEY_MODELS_FILE", "amqp_url": "AMQP_URL"}


def _settings_problem(exc: ValidationError) -> str:
    """One line naming the environment variables that are wrong."""
    parts = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(p) for p in error["loc"])
        env = _ENV_NAMES.get(name, name if name.isupper() else f"PARLEY_INFERENCE_{name.upper()}")
        if env == "PARLEY_MODELS_FILE" and error["type"] == "missing":
            parts.append("PARLEY_MODELS_FILE is not set (the YAML list of models to serve)")
        else:
            parts.append(f"{env}: {error['msg']}")
    return "; ".join(parts)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def serve(settings: Settings) -> int:
    try:
        worker = bootstrap(settings)
    except ModelsFileError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    try:
        await worker.start()
    except BrokerUnavailable as exc:
        log.error("%s (AMQP_URL=%s)", exc, _without_password(settings.amqp_url))
        return EXIT_START
    except StartupError as exc:
        log.error("%s", exc)
        return EXIT_START
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await worker.stop()
    return 0


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        log.error("invalid settings: %s", _settings_problem(exc))
        return EXIT_CONFIG
    try:
        with service_telemetry("parley-inference", settings.log_level):
            # Before any aiohttp session exists: the provider calls become client spans.
            AioHttpClientInstrumentor().instrument()
            return uvloop.run(serve(settings))
    except TelemetryConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
