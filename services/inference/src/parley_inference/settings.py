"""The worker's settings, read from the environment once, in `__main__`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from parley_platform.egress import EgressPolicy
from parley_platform.settings import BrokerSettings


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BrokerSettings):
    """Env prefix `PARLEY_INFERENCE_`; the broker is `AMQP_URL` and the models
    file `PARLEY_MODELS_FILE` (shared names)."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_INFERENCE_", extra="ignore", populate_by_name=True)

    models_file: Path = Field(
        validation_alias=AliasChoices("PARLEY_MODELS_FILE", "PARLEY_INFERENCE_MODELS_FILE")
    )
    """YAML list of models (see models.example.yaml)."""
    concurrency: int = Field(default=4, ge=1, le=1024)
    """Generations of one model at once (its requests consumer's prefetch), for
    models whose entry in the models file sets no `concurrency`."""
    coalesce_window_ms: float = Field(default=50.0, ge=0, le=5000)
    """Token text gathered this long goes out as one delta (the first at once)."""
    coalesce_window_max_ms: float = Field(default=150.0, ge=0, le=5000)
    """The widest window: past `coalesce_busy_at` running generations the window
    grows in proportion to them, up to this (fewer messages when busy)."""
    coalesce_busy_at: int = Field(default=16, ge=1, le=100_000)
    worker_id: str = Field(default_factory=_default_worker_id, min_length=1, max_length=200)
    heartbeat_interval_s: float = Field(default=2.0, gt=0, le=300)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long in-flight generations may run before they are requeued."""
    provider_connect_timeout_s: float = Field(default=5.0, gt=0)
    provider_read_timeout_s: float = Field(default=60.0, gt=0)
    """Longest wait for the provider's first byte, and longest silence mid-stream."""
    provider_max_retries: int = Field(default=1, ge=0, le=5)
    """SDK retries before the stream starts (refused connections, 5xx, timeouts)."""
    egress_allow: str = ""
    """CIDRs (comma-separated) of internal addresses that providers may be reached at:
    loopback, private, link-local, CGNAT and metadata addresses are refused otherwise (e.g.
    `127.0.0.0/8,::1` for a model server on this host, `10.0.0.0/8` for one in the cluster)."""

    @field_validator("egress_allow")
    @classmethod
    def _egress_allow(cls, value: str) -> str:
        return EgressPolicy.checked_setting(value, setting="PARLEY_INFERENCE_EGRESS_ALLOW")

    def egress(self) -> EgressPolicy:
        return EgressPolicy.parse(self.egress_allow)

    catalog_request_timeout_s: float = Field(default=2.0, ge=0)
    """At start, how long to wait for the runtime catalogue (auth's); 0: serve the models file only."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve Prometheus `/metrics` on this port when set."""
    log_level: str = "INFO"
