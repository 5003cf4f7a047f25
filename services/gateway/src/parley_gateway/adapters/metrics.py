"""Prometheus metrics of one gateway app (its own registry, so that several
apps in one process do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.open_sockets = Gauge(
            "parley_gateway_open_sockets", "WebSockets open on this gateway", registry=self.registry
        )
        self.sessions = Gauge(
            "parley_gateway_attached_sessions",
            "Sessions relayed to a socket of this gateway",
            registry=self.registry,
        )
        self.prompts = Counter(
            "parley_gateway_prompts", "Prompts received, by outcome", ["outcome"], registry=self.registry
        )
        self.ttft = Histogram(
            "parley_gateway_time_to_first_token_seconds",
            "From `accepted` to the first `delta` frame sent",
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.delta_frames = Counter(
            "parley_gateway_delta_frames", "Delta frames delivered to clients", registry=self.registry
        )
        self.stream_frames = Counter(
            "parley_gateway_stream_frames",
            "Stream frames delivered to clients, by type",
            ["type"],
            registry=self.registry,
        )
        self._stream_frame_counters: dict[str, Counter] = {}
        self.error_frames = Counter(
            "parley_gateway_error_frames", "Error frames sent, by code", ["code"], registry=self.registry
        )

    def stream_frame(self, kind: str) -> Counter:
        """The labelled counter of one frame type: `labels()` costs more than
        the whole rest of counting a frame, and it runs for every frame sent."""
        counter = self._stream_frame_counters.get(kind)
        if counter is None:
            counter = self._stream_frame_counters[kind] = self.stream_frames.labels(type=kind)
        return counter

    def render(self) -> bytes:
        return generate_latest(self.registry)
