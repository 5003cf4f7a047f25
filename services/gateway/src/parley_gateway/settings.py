"""The gateway's settings: read once from the environment (prefix `PARLEY_GATEWAY_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from parley_platform.settings import BrokerSettings, trusted_proxies


class Settings(BrokerSettings):
    """Everything the gateway reads from its environment.

    `AMQP_URL` names the broker (shared by all services).
    `PARLEY_GATEWAY_JWKS_URL` is required: the gateway trusts only tokens
    signed by a key of that JWKS (the auth service's).
    """

    model_config = SettingsConfigDict(env_prefix="PARLEY_GATEWAY_", extra="ignore", populate_by_name=True)

    jwks_url: str | None = None
    jwt_issuer: str = "parley-auth"
    jwt_audience: str = "parley"
    jwt_leeway_s: float = Field(default=0.0, ge=0.0, le=300.0)
    jwks_refetch_floor_s: float = Field(default=30.0, ge=0.0)
    """An unknown `kid` refetches the JWKS at most this often."""
    jwks_max_age_s: float = Field(default=300.0, gt=0.0)
    """The cached JWKS is fetched again once it is this old: a key auth stopped publishing
    (retired, removed) stops verifying within this time."""
    jwks_max_stale_s: float = Field(default=3600.0, gt=0.0)
    """While auth cannot be reached the cached JWKS is kept up to this age, then no token
    verifies (503 / close 1013) until it is fetched again."""
    jwks_timeout_s: float = Field(default=5.0, gt=0.0)

    host: str = "127.0.0.1"
    port: int = Field(
        default=8000, ge=0, le=65535, validation_alias=AliasChoices("PARLEY_GATEWAY_PORT", "PORT", "port")
    )
    ops_port: int = Field(default=9101, ge=1, le=65535)
    """The operations port (same host): `/healthz`, `/readyz` and `/metrics`, for probes and
    Prometheus only. The public port does not serve them: broker state and every counter stay
    off the public origin."""
    auth_url: str | None = None
    """The auth service's base URL; `/api/auth/*` is proxied there (unset: 503)."""
    history_url: str | None = None
    """The history service's base URL; `/api/history/*` is proxied there (unset: 503)."""
    proxy_connect_timeout_s: float = Field(default=5.0, gt=0.0)
    proxy_read_timeout_s: float = Field(default=60.0, gt=0.0)
    """Longest wait for the next bytes of an upstream response (streams included)."""

    api_key_cache_s: float = Field(default=60.0, ge=0.0)
    """How long an API key's exchanged access token is reused before the key is checked with auth
    again: the longest a revoked key keeps working (a disabled account's stops at once: its
    access change reaches every gateway)."""

    forwarded_allow_ips: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "PARLEY_GATEWAY_TRUSTED_PROXIES", "PARLEY_GATEWAY_FORWARDED_ALLOW_IPS", "forwarded_allow_ips"
        ),
    )
    """Proxies in front of the gateway (the Ingress controller) whose `X-Forwarded-For` it
    believes: addresses and CIDRs, comma-separated; never `*`, with which a client would choose
    the address it is throttled by. Unset: none; the client address is the peer's, whatever a
    client claims, and that is what the proxied services get as `X-Forwarded-For`."""

    allowed_origins: str = ""
    """Browser origins besides the gateway's own (comma-separated, `https://chat.example.com`)
    that may open `/ws` and use the refresh cookie (`/api/auth/refresh`, `/api/auth/logout`).
    A request that names another origin is refused; one that names none (not a browser) is not."""
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    """`Strict-Transport-Security` on answers to requests that came over TLS; 0: none."""

    static_dir: Path | None = None
    """A built frontend (static export) to serve at `/`."""
    log_level: str = "INFO"

    max_frame_bytes: int = Field(default=256 * 1024, ge=1024)
    ws_ping_interval_s: float = Field(default=20.0, gt=0.0)
    hello_timeout_s: float = Field(default=10.0, gt=0.0)

    max_generations_per_user: int = Field(default=4, ge=1)
    prompts_per_minute: int = Field(default=30, ge=1)
    resumes_per_minute: int = Field(default=30, ge=1)
    """Session resumes per user per minute on one gateway (each asks every worker for snapshots)."""
    resumes_per_minute_per_socket: int = Field(default=10, ge=1)
    generation_lease_s: float = Field(default=900.0, gt=0.0)
    """A generation whose end the gateway never sees stops counting against
    its user's concurrency limit after this long."""

    quota_block_ttl_s: float = Field(default=300.0, gt=0.0)
    """A `quota.exceeded` block lapses unless auth re-announces it within this long (auth
    re-announces every `PARLEY_AUTH_QUOTA_SWEEP_S`, 60 s by default: keep this a few times that)."""

    access_request_timeout_s: float = Field(default=3.0, ge=0.0)
    """How long to wait for auth's answer to "which accounts' access changed lately" at
    start (asked again every as long until it answers); 0: never ask."""

    snapshot_wait_s: float = Field(default=1.0, ge=0.0)
    resync_interval_s: float = Field(default=2.0, gt=0.0)
    session_prefetch: int = Field(default=64, ge=1, le=10_000)
    publish_timeout_s: float = Field(default=30.0, gt=0.0)
    """How long a prompt waits for its publisher confirm: under overload a confirm takes seconds (at
    1,000 streams on 4 workers, 5 s failed 299 of 2,000 prompts that were, or may have been, queued)."""
    reconnect_interval_s: float = Field(default=2.0, gt=0.0)

    @field_validator("jwks_url", "auth_url", "history_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else None

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _no_wildcard(cls, value: str | None) -> str | None:
        return trusted_proxies(value, setting="PARLEY_GATEWAY_TRUSTED_PROXIES") if value else None

    @field_validator("static_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"PARLEY_GATEWAY_STATIC_DIR {value} is not a directory")
        return value

    @model_validator(mode="after")
    def _jwks_required(self) -> Self:
        if self.jwks_url is None:
            raise ValueError(
                "PARLEY_GATEWAY_JWKS_URL is required: the auth service's JWKS, "
                "e.g. http://127.0.0.1:8001/api/auth/jwks.json (`make dev` sets it)"
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

    @property
    def ops_url(self) -> str:
        return f"http://{self.host}:{self.ops_port}"
