"""HTTP latency for Prometheus, the same in every service: a pure ASGI
middleware (streaming and WebSocket traffic pass through untouched)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"


def http_latency(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "parley_http_request_duration_seconds",
        "HTTP requests until the response starts, by route template, method and status",
        ["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )


def route_of(scope: Scope) -> str:
    """The matched route's template (`/api/history/conversations/{conversation_id}`),
    never the raw path: ids in paths would make a series per id."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, histogram: Histogram) -> None:
        self._app = app
        self._histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            observed = True
            elapsed = time.perf_counter() - started
            self._histogram.labels(scope["method"], route_of(scope), str(status)).observe(elapsed)

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(int(message["status"]))
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            if not observed:
                observe(500)
