"""Traces and logs, set up the same way in every service (docs/architecture.md section 6).

Tracing follows the standard OpenTelemetry variables: `OTEL_TRACES_EXPORTER`
(`otlp` over HTTP/protobuf, `console`, or `none`, Parley's default so that a
laptop without a collector stays quiet), `OTEL_EXPORTER_OTLP_ENDPOINT` and
friends, `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`, `OTEL_BSP_*`. The W3C trace
context travels in AMQP headers; FastStream's telemetry middleware (and the
aio-pika instrumentation where a service uses aio-pika directly) puts it there
and reads it back.

Logs are JSON lines (`PARLEY_LOG_FORMAT=json`, the default) with the trace id,
span id and whatever ids `log_context` bound (session, message), or the
classic one-line text format (`PARLEY_LOG_FORMAT=text`, `make dev`). Message
text, tokens and passwords are never logged at INFO: log ids, not content.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import orjson
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from parley_platform.http_metrics import HttpMetricsMiddleware, http_latency

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

LogFormat = Literal["json", "text"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "parley"

_NOTHING_BOUND: Mapping[str, str] = MappingProxyType({})
_bound: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "parley_log_context", default=_NOTHING_BOUND
)


class TelemetryConfigError(ValueError):
    """An `OTEL_*` or `PARLEY_LOG_*` variable has a value Parley does not support."""


# --- traces ------------------------------------------------------------------------------------


def _exporter(name: str) -> SpanExporter | None:
    if name in ("", "none"):
        return None
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if name == "otlp":
        return OTLPSpanExporter()
    raise TelemetryConfigError(f"OTEL_TRACES_EXPORTER={name!r}: use otlp, console or none")


def configure_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the global tracer provider the `OTEL_*` variables ask for and
    return it (to shut down at exit), or None when tracing is off."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
    exporters = [e for e in (_exporter(n) for n in names) if e is not None]
    if not exporters:
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if "otlp" in names and protocol not in (None, "", "http/protobuf"):
        raise TelemetryConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: Parley exports http/protobuf")
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


# --- logs --------------------------------------------------------------------------------------


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Add these ids (session_id, message_id, ...) to every log line written
    inside the block, in this task and the tasks it starts."""
    token = _bound.set({**_bound.get(), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def bind_log_context(**ids: object) -> None:
    """Like `log_context`, for the rest of the current task (a connection's handler)."""
    _bound.set({**_bound.get(), **{k: str(v) for k, v in ids.items() if v is not None}})


def current_log_context() -> Mapping[str, str]:
    return _bound.get()


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace and span
    ids when a span is current, bound ids, and `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        line.update(_bound.get())
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_format(environ: Mapping[str, str] | None = None) -> LogFormat:
    env = os.environ if environ is None else environ
    value = env.get("PARLEY_LOG_FORMAT", "json").strip().lower() or "json"
    if value not in ("json", "text"):
        raise TelemetryConfigError(f"PARLEY_LOG_FORMAT={value!r}: use json or text")
    return "json" if value == "json" else "text"


def configure_logging(level: str | int, fmt: LogFormat | None = None) -> None:
    """Root logging to stderr in the chosen format (default: `PARLEY_LOG_FORMAT`)."""
    handler = logging.StreamHandler(sys.stderr)
    if (fmt or log_format()) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only an earlier handler of ours: others (a test's capture) stay.
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


# --- HTTP --------------------------------------------------------------------------------------

UNTRACED_PATHS = "/healthz$,/readyz$,/metrics$,/ws$"
"""Probes and scrapes would drown the traces; a WebSocket's life is no request
(its prompts start their own traces)."""


def instrument_app(app: FastAPI, *, registry: CollectorRegistry) -> None:
    """Server spans for the app's HTTP routes (W3C context from the request
    headers) and their latency in `registry`."""
    FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_PATHS)
    app.add_middleware(HttpMetricsMiddleware, histogram=http_latency(registry))


# --- broker ------------------------------------------------------------------------------------


def broker_middlewares(registry: CollectorRegistry, *, app_name: str) -> tuple[Any, ...]:
    """FastStream middlewares for a RabbitBroker: consume and
    publish spans with the W3C context in the AMQP headers (through the global
    tracer provider, a no-op until `configure_tracing` installs one), and
    messages handled, their latency and failures in `registry`."""
    return (
        RabbitTelemetryMiddleware(),
        RabbitPrometheusMiddleware(registry=registry, app_name=app_name, metrics_prefix="parley_broker"),
    )


class _AmqpHeaderGetter(Getter[Mapping[str, Any]]):
    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        return [value.decode() if isinstance(value, bytes) else str(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier)


def context_from_headers(headers: Mapping[str, Any] | None) -> Context:
    """The trace context a publisher put in a message's AMQP headers (aio-pika
    hands string headers over as bytes), for consumers outside FastStream."""
    return propagate.extract(headers or {}, getter=_AmqpHeaderGetter())


_consumer_tracer = trace.get_tracer("parley_platform.consume")


def consume_span(queue: str, headers: Mapping[str, Any] | None, message_id: object = None) -> trace.Span:
    """A span for processing one message of `queue` consumed outside FastStream (the hot paths),
    a child of its publisher's span; the caller ends it (`trace.use_span(..., end_on_exit=True)`)."""
    attributes: dict[str, str] = {"messaging.system": "rabbitmq", "messaging.destination.name": queue}
    if message_id is not None:
        attributes["messaging.message.id"] = str(message_id)
    return _consumer_tracer.start_span(
        f"{queue} process",
        context=context_from_headers(headers),
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
    )


@contextlib.contextmanager
def service_telemetry(service_name: str, log_level: str) -> Iterator[None]:
    """Logs and traces for one service process; the last spans are flushed on the way
    out. Raises `TelemetryConfigError` (before the block runs) for bad settings."""
    configure_logging(log_level)
    provider = configure_tracing(service_name)
    try:
        yield
    finally:
        if provider is not None:
            provider.shutdown()
