"""Prometheus metrics of one auth app (its own registry, so several apps in one process do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class AuthMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.logins = Counter(
            "parley_auth_logins", "Login attempts, by outcome", ["outcome"], registry=self.registry
        )
        self.refreshes = Counter(
            "parley_auth_refreshes", "Refresh attempts, by outcome", ["outcome"], registry=self.registry
        )
        self.registrations = Counter("parley_auth_registrations", "Accounts created", registry=self.registry)
        self.events = Counter(
            "parley_auth_events_handled",
            "Broker events handled, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.store_retries = Counter(
            "parley_auth_store_retries",
            "Events held and retried because the database did not answer",
            registry=self.registry,
        )
        self.lag = Gauge(
            "parley_auth_consumer_lag_seconds",
            "Age of the last completion.finished counted (now - occurred_at)",
            registry=self.registry,
        )
        self.quota = Counter(
            "parley_auth_quota_events",
            "quota.exceeded / quota.restored published",
            ["type"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
