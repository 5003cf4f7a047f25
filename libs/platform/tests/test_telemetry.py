import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from parley_platform.http_metrics import HttpMetricsMiddleware, http_latency
from parley_platform.telemetry import (
    JsonFormatter,
    TelemetryConfigError,
    configure_tracing,
    context_from_headers,
    log_context,
    log_format,
)


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("parley.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_the_trace_and_the_bound_ids(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_log
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span, log_context(session_id="s-1", message_id=None):
        logger.info("stored %s", "event", extra={"event_type": "prompt.submitted"})
    logger.warning("outside")

    inside, outside = _lines(out)
    context = span.get_span_context()
    assert inside["message"] == "stored event"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "parley.test.json"
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["session_id"] == "s-1"
    assert "message_id" not in inside  # None is not bound
    assert inside["event_type"] == "prompt.submitted"
    assert "trace_id" not in outside
    assert "session_id" not in outside


def test_an_exception_is_one_json_line(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_log
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    (line,) = _lines(out)
    assert line["message"] == "failed"
    assert "RuntimeError: boom" in str(line["exception"])


def test_tracing_is_off_unless_an_exporter_is_asked_for() -> None:
    assert configure_tracing("svc", {}) is None
    assert configure_tracing("svc", {"OTEL_TRACES_EXPORTER": "none"}) is None
    assert configure_tracing("svc", {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) is None


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "use otlp, console or none"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
    ],
)
def test_unsupported_tracing_settings_are_refused_clearly(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(TelemetryConfigError, match=problem):
        configure_tracing("svc", environ)


def test_the_console_exporter_installs_a_provider_named_after_the_service() -> None:
    provider = configure_tracing("parley-test", {"OTEL_TRACES_EXPORTER": "console"})
    assert provider is not None
    try:
        assert provider.resource.attributes["service.name"] == "parley-test"
    finally:
        provider.shutdown()


def test_log_format_choices() -> None:
    assert log_format({}) == "json"
    assert log_format({"PARLEY_LOG_FORMAT": "TEXT"}) == "text"
    with pytest.raises(TelemetryConfigError, match="use json or text"):
        log_format({"PARLEY_LOG_FORMAT": "xml"})


def test_a_trace_context_is_read_from_amqp_headers_given_as_bytes() -> None:
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    context = trace.get_current_span(context_from_headers({"traceparent": traceparent})).get_span_context()
    assert format(context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(context.span_id, "016x") == "b7ad6b7169203331"
    assert not trace.get_current_span(context_from_headers(None)).get_span_context().is_valid


async def test_http_latency_is_labelled_by_route_template_not_path() -> None:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "bad":
            raise RuntimeError("bug")
        return {"id": item_id}

    registry = CollectorRegistry()
    app.add_middleware(HttpMetricsMiddleware, histogram=http_latency(registry))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/items/2")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/items/bad")).status_code == 500

    def count(route: str, status: str) -> float | None:
        labels = {"method": "GET", "route": route, "status": status}
        return registry.get_sample_value("parley_http_request_duration_seconds_count", labels)

    assert count("/items/{item_id}", "200") == 2
    assert count("unmatched", "404") == 1
    assert count("/items/{item_id}", "500") == 1
