"""The composition root: settings -> adapters -> the gateway's collaborators.

`bootstrap` wires the real adapters by default; tests pass fakes of the ports
(`publisher`, `queues`, `verifier`) or adapters of their own (`upstreams`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from parley_gateway.adapters.api_keys import ApiKeyExchange
from parley_gateway.adapters.metrics import GatewayMetrics
from parley_gateway.adapters.rabbit import RabbitPublisher
from parley_gateway.adapters.session_queues import RabbitSessionQueues
from parley_gateway.adapters.tokens import JwksTokenVerifier, http_jwks
from parley_gateway.adapters.upstream import Upstreams
from parley_gateway.domain.clock import Clock
from parley_gateway.domain.limits import EventWindow, GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stats import LatencyWindow
from parley_gateway.hub import SessionHub
from parley_gateway.ports import PublisherConnection, SessionQueuesConnection, TokenVerifier
from parley_gateway.settings import Settings
from parley_platform.broker import BrokerLifespan, make_broker
from parley_platform.browser_security import OriginPolicy


@dataclass
class Gateway:
    settings: Settings
    clock: Clock
    lifespan: BrokerLifespan
    """The broker (outside the token path), started and stopped with the app."""
    publisher: PublisherConnection
    queues: SessionQueuesConnection
    verifier: TokenVerifier
    registry: WorkerRegistry
    rate: PromptRateLimiter
    resumes: EventWindow
    """Session resumes per user."""
    generations: GenerationLimiter
    hub: SessionHub
    metrics: GatewayMetrics
    blocked: BlockedUsers
    upstreams: Upstreams
    api_keys: ApiKeyExchange
    origins: OriginPolicy
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    instance_id: str = field(default_factory=lambda: secrets.token_hex(6))

    async def readiness(self) -> str | None:
        """None when ready, else why not."""
        if not await self.publisher.connected():
            return "the FastStream broker connection to RabbitMQ is down"
        if not self.queues.connected:
            return "the session-queue connection to RabbitMQ is down"
        return None


def bootstrap(
    settings: Settings,
    *,
    clock: Clock = time.monotonic,
    publisher: PublisherConnection | None = None,
    queues: SessionQueuesConnection | None = None,
    verifier: TokenVerifier | None = None,
    upstreams: Upstreams | None = None,
) -> Gateway:
    metrics = GatewayMetrics()
    broker = make_broker(
        settings.amqp_url,
        app_name="parley-gateway",
        metrics_registry=metrics.registry,
        reconnect_interval_s=settings.reconnect_interval_s,
    )
    if publisher is None:
        publisher = RabbitPublisher(
            broker, timeout_s=settings.publish_timeout_s, user_id=settings.broker_user
        )
    if queues is None:
        queues = RabbitSessionQueues(
            settings.amqp_url,
            prefetch=settings.session_prefetch,
            reconnect_interval_s=settings.reconnect_interval_s,
        )
    if verifier is None:
        verifier = _jwks_verifier(settings, clock)
    if upstreams is None:
        upstreams = Upstreams(
            auth_url=settings.auth_url,
            history_url=settings.history_url,
            connect_timeout_s=settings.proxy_connect_timeout_s,
            read_timeout_s=settings.proxy_read_timeout_s,
        )
    return Gateway(
        settings=settings,
        clock=clock,
        lifespan=BrokerLifespan(broker),
        publisher=publisher,
        queues=queues,
        verifier=verifier,
        registry=WorkerRegistry(clock=clock),
        rate=PromptRateLimiter(settings.prompts_per_minute, clock=clock),
        resumes=EventWindow(settings.resumes_per_minute, clock=clock),
        generations=GenerationLimiter(
            settings.max_generations_per_user, clock=clock, lease_s=settings.generation_lease_s
        ),
        hub=SessionHub(),
        metrics=metrics,
        blocked=BlockedUsers(clock=clock, ttl_s=settings.quota_block_ttl_s),
        upstreams=upstreams,
        api_keys=ApiKeyExchange(
            settings.auth_url,
            timeout_s=settings.proxy_connect_timeout_s + 5.0,
            cache_s=settings.api_key_cache_s,
        ),
        origins=OriginPolicy.parse(settings.allowed_origins),
    )


def _jwks_verifier(settings: Settings, clock: Clock) -> JwksTokenVerifier:
    assert settings.jwks_url is not None  # Settings refuses to exist without one
    return JwksTokenVerifier(
        http_jwks(settings.jwks_url, timeout_s=settings.jwks_timeout_s),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_s=settings.jwt_leeway_s,
        refetch_floor_s=settings.jwks_refetch_floor_s,
        clock=clock,
        max_age_s=settings.jwks_max_age_s,
        max_stale_s=settings.jwks_max_stale_s,
    )
