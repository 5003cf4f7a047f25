"""Prometheus metrics of the history service (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class HistoryMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "history_events_handled_total",
            "Events consumed, by type and result (stored, duplicate, rejected)",
            ["type", "result"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "history_consumer_lag_seconds",
            "Age (now - occurred_at) of the last event stored",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "history_queue_messages",
            "Messages ready in history.events when last checked",
            registry=self.registry,
        )
        self.store_retries = Counter(
            "history_store_retries_total",
            "Times an event was held and retried because the database was unavailable",
            registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "history_event_handle_seconds", "Time to store one event", registry=self.registry
        )
