"""The composition root: settings -> adapters -> the auth service's collaborators.

`bootstrap` wires the real adapters by default; tests pass fakes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from parley_auth.adapters.accounts import SqlAccountStore
from parley_auth.adapters.catalog import SqlCatalogStore
from parley_auth.adapters.keys import KeyRing
from parley_auth.adapters.ledger import SqlLedgerStore
from parley_auth.adapters.metrics import AuthMetrics
from parley_auth.adapters.passwords import Argon2Hasher, BoundedHasher
from parley_auth.adapters.rabbit import RabbitPublisher
from parley_auth.adapters.repository import Database
from parley_auth.domain.accounts import AccountPolicy
from parley_auth.domain.quota import Price, QuotaPolicy
from parley_auth.domain.throttle import KeyThrottle, LoginThrottle, RegistrationThrottle
from parley_auth.ports import AccountStore, CatalogStore, EventPublisher, LedgerStore, Now, PasswordHasher
from parley_auth.settings import Settings
from parley_platform.broker import BrokerLifespan, make_broker
from parley_platform.browser_security import OriginPolicy
from parley_platform.sealing import Sealer


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Auth:
    settings: Settings
    db: Database
    keys: KeyRing
    hasher: PasswordHasher
    throttle: LoginThrottle
    key_throttle: KeyThrottle
    registrations: RegistrationThrottle
    lifespan: BrokerLifespan
    """The broker, started and stopped with the app."""
    publisher: EventPublisher
    metrics: AuthMetrics
    prices: dict[str, Price]
    now: Now
    policy: AccountPolicy
    sealer: Sealer | None = None
    """Seals provider API keys; None when `PARLEY_CATALOG_SECRET` is unset (keys are refused)."""
    origins: OriginPolicy = field(default_factory=OriginPolicy)
    """Browser origins that may use the refresh cookie besides the one a request was sent to."""
    registering: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Registrations of this process one at a time past their hash (see `lock_registrations`)."""

    @property
    def accounts(self) -> AccountStore:
        return SqlAccountStore(self.db, self.registering)

    @property
    def catalog(self) -> CatalogStore:
        return SqlCatalogStore(self.db)

    @property
    def ledger(self) -> LedgerStore:
        return SqlLedgerStore(self.db)

    @property
    def quota_policy(self) -> QuotaPolicy:
        return QuotaPolicy(self.settings.budget_period, self.settings.default_budget_tokens)

    async def readiness(self) -> str | None:
        """None when ready, else why not."""
        if not await self.db.ping():
            return "the database does not answer"
        if not await self.publisher.connected():
            return "the broker connection to RabbitMQ is down"
        return None


def bootstrap(
    settings: Settings,
    *,
    db: Database | None = None,
    publisher: EventPublisher | None = None,
    hasher: PasswordHasher | None = None,
    now: Now = utc_now,
) -> Auth:
    metrics = AuthMetrics()
    broker = make_broker(
        settings.amqp_url,
        app_name="parley-auth",
        metrics_registry=metrics.registry,
        reconnect_interval_s=settings.reconnect_interval_s,
    )
    sealer = Sealer(settings.catalog_secret.get_secret_value()) if settings.catalog_secret else None
    return Auth(
        settings=settings,
        db=db or Database(settings.database_url),
        keys=KeyRing(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl_s=settings.access_ttl_s,
            sealer=sealer,
        ),
        hasher=BoundedHasher(
            hasher
            or Argon2Hasher(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            concurrency=settings.hash_concurrency,
            queue_max=settings.hash_queue_max,
        ),
        throttle=LoginThrottle(
            per_account=settings.login_max_failures_per_account,
            per_ip=settings.login_max_failures_per_ip,
            window_s=settings.login_window_s,
            clock=time.monotonic,
        ),
        key_throttle=KeyThrottle(
            per_ip=settings.key_max_failures_per_ip,
            per_prefix=settings.key_max_failures_per_prefix,
            window_s=settings.login_window_s,
            clock=time.monotonic,
        ),
        registrations=RegistrationThrottle(
            per_ip=settings.register_max_per_ip, window_s=settings.register_window_s, clock=time.monotonic
        ),
        lifespan=BrokerLifespan(broker),
        publisher=publisher
        or RabbitPublisher(broker, timeout_s=settings.publish_timeout_s, user_id=settings.broker_user),
        metrics=metrics,
        prices={
            name: Price(p.input_price_per_mtok, p.output_price_per_mtok)
            for name, p in settings.model_prices().items()
        },
        now=now,
        policy=AccountPolicy(
            password_min_length=settings.password_min_length,
            dev=settings.dev,
            admin_email=settings.admin_email,
            bootstrap_token=settings.bootstrap_token.get_secret_value()
            if settings.bootstrap_token is not None
            else None,
            access_ttl_s=settings.access_ttl_s,
            refresh_ttl_s=settings.refresh_ttl_s,
            key_fresh_sign_in_s=settings.key_fresh_sign_in_s,
        ),
        sealer=sealer,
        origins=OriginPolicy.parse(settings.allowed_origins),
    )
