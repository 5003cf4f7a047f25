"""The history service's settings: read once from the environment (prefix `PARLEY_HISTORY_`)."""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from parley_history.domain.audit import AuditKey
from parley_platform.database import async_database_url
from parley_platform.settings import BrokerSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./parley-history.db"
AUDIT_KEY_MIN_LENGTH = 32
DEV_AUDIT_SECRET = b"parley-history development audit key (not a secret)"
"""Signs the audit chain under PARLEY_HISTORY_DEV=1 without PARLEY_HISTORY_AUDIT_KEY: fixed,
so that a `make dev` database verifies across restarts; public, so it proves nothing."""
_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class Settings(BrokerSettings):
    """Everything the history service reads from its environment.

    `AMQP_URL` names the broker (shared by all services). `serve` needs
    `PARLEY_HISTORY_JWKS_URL`: the REST API trusts only tokens signed by a key
    of that JWKS (the auth service's).
    """

    model_config = SettingsConfigDict(env_prefix="PARLEY_HISTORY_", extra="ignore", populate_by_name=True)

    dev: bool = False
    """Local development (`make dev`): `serve` and `consume` accept SQLite, and a missing
    `audit_key` (the chain is then signed with a fixed, public development key)."""
    database_url: str = DEFAULT_DATABASE_URL
    """`migrate` runs with the owner's URL; `serve` and `consume` with `runtime_role`'s."""
    db_pool_size: int = Field(default=5, ge=1, le=100)
    runtime_role: str | None = None
    """A PostgreSQL role that `migrate` grants what `serve` and `consume` need: SELECT and
    INSERT on the audit log, SELECT, INSERT, UPDATE and DELETE on the other tables. Not the
    owner, it cannot alter, disable or drop the audit log's append-only trigger."""
    audit_key: SecretStr | None = None
    """The secret that signs the audit chain (`domain.audit.AuditKey`); required outside dev."""

    jwks_url: str | None = None
    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    jwt_leeway_s: float = Field(default=0.0, ge=0.0, le=300.0)
    jwks_refetch_floor_s: float = Field(default=30.0, ge=0.0)
    jwks_max_age_s: float = Field(default=300.0, gt=0.0)
    """The cached JWKS is fetched again once it is this old: a key auth stopped publishing
    (retired, removed) stops verifying within this time."""
    jwks_max_stale_s: float = Field(default=3600.0, gt=0.0)
    """While auth cannot be reached the cached JWKS is kept up to this age, then no token
    verifies (503 / close 1013) until it is fetched again."""
    jwks_timeout_s: float = Field(default=5.0, gt=0.0)
    admin_role: str = "admin"

    host: str = "127.0.0.1"
    port: int = Field(
        default=8002, ge=0, le=65535, validation_alias=AliasChoices("PARLEY_HISTORY_PORT", "port")
    )
    log_level: str = "INFO"

    consumer: bool = True
    """`serve` also runs the event consumer in the same process (`consume` runs it alone)."""
    prefetch: int = Field(default=64, ge=1, le=10_000)
    retry_initial_s: float = Field(default=0.2, gt=0.0)
    retry_max_s: float = Field(default=10.0, gt=0.0)
    reconnect_interval_s: float = Field(default=2.0, gt=0.0)
    dead_letter_queue: str = "history.dead"

    title_requests: bool = True
    """After a conversation's first answer, publish a `prompt.submitted` with
    `purpose="title"` so that a worker writes a short title."""
    title_reply_to: str = "history.titles"
    """The reply queue named in title requests. Nothing declares it, so the
    broker drops the token deltas of title generations: only their
    `completion.finished` (on `chat.events`) matters."""

    page_size_max: int = Field(default=100, ge=1, le=1000)
    max_projects_per_user: int = Field(default=200, ge=1)
    max_prompts_per_user: int = Field(default=500, ge=1)

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("runtime_role")
    @classmethod
    def _role_name(cls, value: str | None) -> str | None:
        if value and not _ROLE_NAME.fullmatch(value):
            raise ValueError("PARLEY_HISTORY_RUNTIME_ROLE must be a plain PostgreSQL role name")
        return value or None

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < AUDIT_KEY_MIN_LENGTH:
            raise ValueError(
                f"PARLEY_HISTORY_AUDIT_KEY must be at least {AUDIT_KEY_MIN_LENGTH} characters "
                "(for example `openssl rand -hex 32`)"
            )
        return value

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and value and not value.startswith(("http://", "https://")):
            raise ValueError("PARLEY_HISTORY_JWKS_URL must be an http:// or https:// URL")
        return value or None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def signing_key(self) -> AuditKey | None:
        """The audit chain's key: from `audit_key`; in dev without it, the development key."""
        if self.audit_key is not None:
            return AuditKey(self.audit_key.get_secret_value().encode())
        return AuditKey(DEV_AUDIT_SECRET) if self.dev else None

    def startup_refusal(self, *, writes_events: bool) -> str | None:
        """Why this process must not start (None: it may). `writes_events`: `serve` and
        `consume`, which keep the audit log; `verify` and `replay` only need the key."""
        if self.dev:
            return None
        if writes_events and self.database_url.startswith("sqlite"):
            return (
                "PARLEY_HISTORY_DATABASE_URL names SQLite, which cannot keep the audit log append-only: "
                "use PostgreSQL (PARLEY_HISTORY_DEV=1 allows SQLite for local development)"
            )
        if self.audit_key is None:
            return (
                "PARLEY_HISTORY_AUDIT_KEY is not set: the audit chain is signed with it "
                "(PARLEY_HISTORY_DEV=1 uses a fixed development key)"
            )
        return None
