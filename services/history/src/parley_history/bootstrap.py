"""The composition root: settings -> adapters -> the history service's collaborators.

`bootstrap` wires the real adapters by default; tests pass fakes or their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley_history.adapters.database import make_engine
from parley_history.adapters.metrics import HistoryMetrics
from parley_history.adapters.rabbit import RabbitPublisher
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.adapters.tokens import JwksTokenVerifier, http_jwks
from parley_history.entrypoints.consumers import EventConsumer
from parley_history.ports import EventPublisher, HistoryStore
from parley_history.settings import Settings
from parley_platform.access_tokens import JwksVerifier


@dataclass
class History:
    settings: Settings
    store: HistoryStore
    publisher: EventPublisher
    verifier: JwksTokenVerifier | None
    metrics: HistoryMetrics
    consumer: EventConsumer | None

    async def readiness(self) -> str | None:
        """None when ready, else why not."""
        try:
            await self.store.ping()
        except Exception as exc:
            return f"the database does not answer: {exc}"
        if self.consumer is not None and not self.consumer.connected:
            return "the event consumer is not connected to RabbitMQ"
        return None

    async def close(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()
        close_publisher = getattr(self.publisher, "close", None)
        if close_publisher is not None:
            await close_publisher()
        close_store = getattr(self.store, "close", None)
        if close_store is not None:
            await close_store()


def bootstrap(
    settings: Settings,
    *,
    store: HistoryStore | None = None,
    publisher: EventPublisher | None = None,
    verifier: JwksTokenVerifier | None = None,
    with_consumer: bool | None = None,
) -> History:
    if store is None:
        store = SqlHistoryStore(
            make_engine(settings.database_url, pool_size=settings.db_pool_size),
            audit_key=settings.signing_key(),
        )
    if publisher is None:
        publisher = RabbitPublisher(settings.amqp_url)
    if verifier is None and settings.jwks_url is not None:
        verifier = JwksTokenVerifier(
            JwksVerifier(
                http_jwks(settings.jwks_url, timeout_s=settings.jwks_timeout_s),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway_s=settings.jwt_leeway_s,
                refetch_floor_s=settings.jwks_refetch_floor_s,
                max_age_s=settings.jwks_max_age_s,
                max_stale_s=settings.jwks_max_stale_s,
            )
        )
    metrics = HistoryMetrics()
    consume = settings.consumer if with_consumer is None else with_consumer
    consumer = EventConsumer(settings, store=store, publisher=publisher, metrics=metrics) if consume else None
    return History(settings, store, publisher, verifier, metrics, consumer)
