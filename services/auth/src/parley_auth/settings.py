"""The auth service's settings: read once from the environment (prefix `PARLEY_AUTH_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from parley_platform.database import async_database_url
from parley_platform.egress import EgressPolicy
from parley_platform.sealing import secret_problem
from parley_platform.settings import BrokerSettings, trusted_proxies

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./parley-auth.db"


class ModelPrice(BaseModel):
    """Prices per million tokens, the same keys as the inference models file."""

    input_price_per_mtok: float = Field(default=0.0, ge=0.0)
    output_price_per_mtok: float = Field(default=0.0, ge=0.0)


class Settings(BrokerSettings):
    """Everything the auth service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_AUTH_", extra="ignore", populate_by_name=True)

    dev: bool = False
    """Local development: allows SQLite and a refresh cookie without `Secure`."""
    database_url: str = DEFAULT_DATABASE_URL

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    log_level: str = "INFO"
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices(
            "PARLEY_AUTH_TRUSTED_PROXIES", "PARLEY_AUTH_FORWARDED_ALLOW_IPS", "forwarded_allow_ips"
        ),
    )
    """Proxies (the gateway, the Ingress controller) whose `X-Forwarded-For` names the client
    address for throttling: addresses and CIDRs, comma-separated. Never `*`: a client would
    choose its own throttle key."""

    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    access_ttl_s: int = Field(default=900, ge=10, le=24 * 3600)
    refresh_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    keys_reload_s: float = Field(default=30.0, gt=0.0)
    """How often a replica rereads the signing keys (another may have rotated)."""

    cookie_secure: bool = True
    cookie_name: str = "parley_refresh"
    refresh_path: str = "/api/auth/refresh"
    allowed_origins: str = ""
    """Browser origins (comma-separated) that may refresh and log out with the cookie besides the
    one a request was sent to (its `Host`); a request naming another origin gets 403."""
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    """`Strict-Transport-Security` on answers to requests that came over TLS; 0: none."""

    admin_email: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PARLEY_ADMIN_EMAIL", "PARLEY_AUTH_ADMIN_EMAIL", "admin_email"),
    )
    bootstrap_token: SecretStr | None = None
    """The operator's one-time way to the first admin: whoever registers presenting it while no
    admin exists becomes admin (with `PARLEY_ADMIN_EMAIL` set, only that address). Outside dev
    mode nothing else makes an admin at registration; `grant-admin EMAIL` does later."""
    password_min_length: int = Field(default=8, ge=6, le=64)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    login_max_failures_per_account: int = Field(default=5, ge=1)
    """Failed logins for one account from one address before that address waits (the account's
    owner elsewhere is not locked out)."""
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_window_s: float = Field(default=900.0, gt=0.0)
    key_max_failures_per_ip: int = Field(default=20, ge=1)
    """Failed API-key exchanges from one address (a bucket apart from logins)."""
    key_max_failures_per_prefix: int = Field(default=5, ge=1)
    """Failed exchanges of keys that begin alike (a revoked key still in use somewhere)."""
    key_fresh_sign_in_s: float = Field(default=300.0, ge=0.0)
    """How long after signing in an API key may be created without the password again."""
    register_max_per_ip: int = Field(default=10, ge=1)
    register_window_s: float = Field(default=3600.0, gt=0.0)
    hash_concurrency: int = Field(default=2, ge=1, le=64)
    """Password hashes computed at once (each takes `argon2_memory_kib`)."""
    hash_queue_max: int = Field(default=32, ge=0)
    """Requests that may wait for a hash; one more is answered 429 with `Retry-After`."""

    default_budget_tokens: int = Field(default=0, ge=0)
    """Tokens (prompt + completion) a user may spend per budget period; 0 means unlimited."""
    budget_period: Literal["day", "month"] = "day"
    quota_sweep_s: float = Field(default=60.0, gt=0.0)
    """How often expired blocks are lifted and current ones announced again (so
    that a gateway started later learns them)."""
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """JSON: `{"model": {"input_price_per_mtok": 0.4, "output_price_per_mtok": 1.2}}`."""
    models_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PARLEY_AUTH_MODELS_FILE", "PARLEY_MODELS_FILE", "models_file"),
    )
    """The inference models file; its prices fill in models `prices` does not name."""

    catalog_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PARLEY_CATALOG_SECRET", "catalog_secret")
    )
    """Seals provider API keys (shared with the inference workers) and the private signing keys
    at rest; unset: provider keys are refused and signing keys stay plain. Outside dev mode it
    must have at least 32 characters and not be a published default."""
    catalog_egress_allow: str = ""
    """CIDRs (comma-separated) a provider's base URL may point into although they are internal
    (loopback, private, link-local...): e.g. `10.0.0.0/8` for an in-cluster model server. The
    workers have their own, `PARLEY_INFERENCE_EGRESS_ALLOW`."""
    catalog_announce_s: float = Field(default=60.0, gt=0.0)
    """How often the current catalogue is announced again (heals a lost `catalog.updated`)."""

    publish_timeout_s: float = Field(default=5.0, gt=0.0)
    reconnect_interval_s: float = Field(default=2.0, gt=0.0)
    store_retry_initial_s: float = Field(default=0.2, gt=0.0)
    """While the database does not answer, the usage consumer holds its event and retries
    after this long, doubling up to `store_retry_max_s`."""
    store_retry_max_s: float = Field(default=5.0, gt=0.0)

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("catalog_secret", "bootstrap_token")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty secret is none."""
        return value if value is not None and value.get_secret_value() else None

    @field_validator("catalog_egress_allow")
    @classmethod
    def _egress_allow(cls, value: str) -> str:
        return EgressPolicy.checked_setting(value, setting="PARLEY_AUTH_CATALOG_EGRESS_ALLOW")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _no_wildcard(cls, value: str) -> str:
        return trusted_proxies(value, setting="PARLEY_AUTH_TRUSTED_PROXIES")

    @field_validator("bootstrap_token")
    @classmethod
    def _bootstrap_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("PARLEY_AUTH_BOOTSTRAP_TOKEN must have at least 24 characters")
        return value

    @model_validator(mode="after")
    def _production_checks(self) -> Self:
        weak = secret_problem(self.catalog_secret.get_secret_value()) if self.catalog_secret else None
        if weak and not self.dev:
            raise ValueError(
                f"PARLEY_CATALOG_SECRET {weak}: set a random secret of at least 32 characters "
                "(e.g. `openssl rand -base64 32`), the same on auth and the inference workers"
            )
        if not self.dev and self.database_url.startswith("sqlite"):
            raise ValueError(
                "PARLEY_AUTH_DATABASE_URL must name PostgreSQL outside dev mode "
                "(PARLEY_AUTH_DEV=1 allows SQLite)"
            )
        if not self.dev and not self.cookie_secure:
            raise ValueError("PARLEY_AUTH_COOKIE_SECURE=0 is only allowed in dev mode")
        return self

    def catalog_egress(self) -> EgressPolicy:
        return EgressPolicy.parse(self.catalog_egress_allow)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def models_file_entries(self) -> list[dict[str, Any]]:
        """The entries of the models file that have a name; [] without a file."""
        if self.models_file is None or not self.models_file.is_file():
            return []
        document = yaml.safe_load(self.models_file.read_text()) or {}
        entries = document.get("models") if isinstance(document, dict) else None
        return [e for e in entries or () if isinstance(e, dict) and isinstance(e.get("name"), str)]

    def model_prices(self) -> dict[str, ModelPrice]:
        prices = {entry["name"]: ModelPrice.model_validate(entry) for entry in self.models_file_entries()}
        prices.update(self.prices)
        return prices
