"""Prometheus metrics of a worker (docs/architecture.md section 6), in a registry of its own
so that several workers can live in one process (tests), served with the
worker's probes: `/healthz` (the process runs) and `/readyz` (it is connected
and taking prompts)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_RATE_BUCKETS = (1.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0)
_GAP_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class PrometheusMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.in_flight = Gauge(
            "parley_inference_generations_in_flight",
            "Generations this worker is running",
            registry=self.registry,
        )
        self.generations = self._counter(
            "parley_inference_generations", "Generations ended, by outcome", "outcome"
        )
        self.ttft = self._histogram(
            "parley_inference_time_to_first_token_seconds",
            "From the provider request to its first text",
            _TTFT_BUCKETS,
        )
        self.inter_token_s = self._histogram(
            "parley_inference_inter_token_seconds", "Gaps between the provider's text chunks", _GAP_BUCKETS
        )
        self.tokens = self._counter(
            "parley_inference_completion_tokens", "Tokens of finished answers, by model", "model"
        )
        self.tokens_per_s = self._histogram(
            "parley_inference_tokens_per_second", "Decode rate of finished generations", _RATE_BUCKETS
        )
        self.errors = self._counter(
            "parley_inference_provider_errors", "Failed generations, by error code", "code"
        )
        self.deltas = self._counter("parley_inference_deltas_published", "token.delta messages published")

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(self, name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, documentation, buckets=buckets, registry=self.registry)

    def generation_started(self) -> None:
        self.in_flight.inc()

    def generation_ended(self, outcome: str) -> None:
        self.in_flight.dec()
        self.generations.labels(outcome=outcome).inc()

    def first_token(self, ttft_s: float) -> None:
        self.ttft.observe(ttft_s)

    def inter_token(self, gap_s: float) -> None:
        self.inter_token_s.observe(gap_s)

    def completion_tokens(self, model: str, tokens: int) -> None:
        self.tokens.labels(model=model).inc(tokens)

    def decode_rate(self, tokens_per_s: float) -> None:
        self.tokens_per_s.observe(tokens_per_s)

    def provider_error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def delta_published(self) -> None:
        self.deltas.inc()

    def serve(self, port: int, host: str = "0.0.0.0", *, ready: Callable[[], bool] = lambda: True) -> None:
        """Serve `/metrics` and the probes on `port` from a background thread until `close`."""
        app = _probes_app(make_wsgi_app(self.registry), ready)
        self._server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


_Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _probes_app(metrics: _Wsgi, ready: Callable[[], bool]) -> _Wsgi:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":
            if ready():
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ready\n"]
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"not ready: starting, stopping or without a broker connection\n"]
        return metrics(environ, start_response)

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds: not worth a log line each."""
