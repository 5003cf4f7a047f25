"""The composition root: settings -> adapters -> the gateway's collaborators.

`bootstrap` wires the real adapters by default; tests pass fakes.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from parley_gateway.adapters.metrics import GatewayMetrics
from parley_gateway.adapters.rabbit import RabbitPublisher, RabbitRouter, make_router
from parley_gateway.adapters.session_queues import RabbitSessionQueues
from parley_gateway.adapters.tokens import DevKeys, JwksTokenVerifier, http_jwks
from parley_gateway.domain.clock import Clock
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.hub import SessionHub
from parley_gateway.settings import Settings


@dataclass
class Gateway:
    settings: Settings
    clock: Clock
    router: RabbitRouter
    publisher: RabbitPublisher
    queues: RabbitSessionQueues
    verifier: JwksTokenVerifier
    dev_keys: DevKeys | None
    registry: WorkerRegistry
    rate: PromptRateLimiter
    generations: GenerationLimiter
    hub: SessionHub
    metrics: GatewayMetrics
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
    verifier: JwksTokenVerifier | None = None,
) -> Gateway:
    router = make_router(settings)
    dev_keys: DevKeys | None = None
    if verifier is None:
        if settings.jwks_url is not None:
            source = http_jwks(settings.jwks_url, timeout_s=settings.jwks_timeout_s)
        else:
            dev_keys = DevKeys(issuer=settings.jwt_issuer, audience=settings.jwt_audience)
            source = dev_keys.source
        verifier = JwksTokenVerifier(
            source,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_s=settings.jwt_leeway_s,
            refetch_floor_s=settings.jwks_refetch_floor_s,
            clock=clock,
        )
    return Gateway(
        settings=settings,
        clock=clock,
        router=router,
        publisher=RabbitPublisher(router, timeout_s=settings.publish_timeout_s),
        queues=RabbitSessionQueues(
            settings.amqp_url,
            prefetch=settings.session_prefetch,
            reconnect_interval_s=settings.reconnect_interval_s,
        ),
        verifier=verifier,
        dev_keys=dev_keys,
        registry=WorkerRegistry(clock=clock),
        rate=PromptRateLimiter(settings.prompts_per_minute, clock=clock),
        generations=GenerationLimiter(
            settings.max_generations_per_user, clock=clock, lease_s=settings.generation_lease_s
        ),
        hub=SessionHub(),
        metrics=GatewayMetrics(),
    )
