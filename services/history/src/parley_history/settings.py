"""The history service's settings: read once from the environment (prefix `PARLEY_HISTORY_`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from parley_contracts.settings import BrokerSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./parley-history.db"


def async_database_url(url: str) -> str:
    """The SQLAlchemy async URL for `url`: `postgresql://` goes through asyncpg,
    `sqlite://` through aiosqlite; any other driver is refused."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError(
        "the database URL must be postgresql:// (asyncpg) or sqlite:// (aiosqlite), "
        f"not {url.split('://', 1)[0]!r}"
    )


class Settings(BrokerSettings):
    """Everything the history service reads from its environment.

    `AMQP_URL` names the broker (shared by all services). `serve` needs
    `PARLEY_HISTORY_JWKS_URL`: the REST API trusts only tokens signed by a key
    of that JWKS (the auth service's).
    """

    model_config = SettingsConfigDict(env_prefix="PARLEY_HISTORY_", extra="ignore", populate_by_name=True)

    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=5, ge=1, le=100)

    jwks_url: str | None = None
    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    jwt_leeway_s: float = Field(default=0.0, ge=0.0, le=300.0)
    jwks_refetch_floor_s: float = Field(default=30.0, ge=0.0)
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

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and value and not value.startswith(("http://", "https://")):
            raise ValueError("PARLEY_HISTORY_JWKS_URL must be an http:// or https:// URL")
        return value or None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
