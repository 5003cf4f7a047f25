"""The gateway's settings: read once from the environment (prefix `PARLEY_GATEWAY_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from parley_contracts.settings import BrokerSettings


class Settings(BrokerSettings):
    """Everything the gateway reads from its environment.

    `AMQP_URL` names the broker (shared by all services). Outside dev mode
    `PARLEY_GATEWAY_JWKS_URL` is required: the gateway trusts only tokens
    signed by a key of that JWKS.
    """

    model_config = SettingsConfigDict(env_prefix="PARLEY_GATEWAY_", extra="ignore", populate_by_name=True)

    dev: bool = False
    """Local development: without a JWKS URL the gateway signs its own tokens
    (`POST /api/dev/token`). Never set this in production."""

    jwks_url: str | None = None
    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    jwt_leeway_s: float = Field(default=0.0, ge=0.0, le=300.0)
    jwks_refetch_floor_s: float = Field(default=30.0, ge=0.0)
    """An unknown `kid` refetches the JWKS at most this often."""
    jwks_timeout_s: float = Field(default=5.0, gt=0.0)

    host: str = "127.0.0.1"
    port: int = Field(
        default=8000, ge=0, le=65535, validation_alias=AliasChoices("PARLEY_GATEWAY_PORT", "PORT", "port")
    )
    static_dir: Path | None = None
    """A built frontend (static export) to serve at `/`."""
    log_level: str = "INFO"

    max_frame_bytes: int = Field(default=256 * 1024, ge=1024)
    ws_ping_interval_s: float = Field(default=20.0, gt=0.0)
    hello_timeout_s: float = Field(default=10.0, gt=0.0)

    max_generations_per_user: int = Field(default=4, ge=1)
    prompts_per_minute: int = Field(default=30, ge=1)
    generation_lease_s: float = Field(default=900.0, gt=0.0)
    """A generation whose end the gateway never sees stops counting against
    its user's concurrency limit after this long."""

    snapshot_wait_s: float = Field(default=1.0, ge=0.0)
    resync_interval_s: float = Field(default=2.0, gt=0.0)
    session_prefetch: int = Field(default=64, ge=1, le=10_000)
    publish_timeout_s: float = Field(default=5.0, gt=0.0)
    reconnect_interval_s: float = Field(default=2.0, gt=0.0)

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("PARLEY_GATEWAY_JWKS_URL must be an http:// or https:// URL")
        return value or None

    @field_validator("static_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"PARLEY_GATEWAY_STATIC_DIR {value} is not a directory")
        return value

    @model_validator(mode="after")
    def _jwks_outside_dev(self) -> Self:
        if self.jwks_url is None and not self.dev:
            raise ValueError(
                "PARLEY_GATEWAY_JWKS_URL is required (the auth service's JWKS); "
                "for local development set PARLEY_GATEWAY_DEV=1 to use a throwaway signing key"
            )
        return self

    @property
    def ws_max_size(self) -> int:
        """What uvicorn accepts: larger than `max_frame_bytes`, so that the app
        itself sees an oversized frame and answers `frame_too_large`."""
        return self.max_frame_bytes * 4

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
