"""The model catalogue that admins change at run time (owned by auth).

`catalog.updated` carries the whole catalogue after every change (and again
now and then), on `chat.events`, so that every worker applies it without a
restart; a worker that starts asks for the current one on `catalog.requests`
(request-reply) and answers with the same event. Provider keys travel
sealed (AES-GCM under a key derived from `PARLEY_CATALOG_SECRET`, shared by
auth and the workers, bound to the provider's id and base URL): the event is
in the audit stream, a key must not be, and a sealed key opens for its own
provider and URL only (`parley_platform.sealing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from parley_contracts.events import DomainEvent

CATALOG_REQUESTS = "catalog.requests"
"""Queue auth answers catalogue requests on (FastStream request-reply)."""

SYSTEM_USER = "system"
"""`user_id` of catalogue events no person caused (seeding, re-announcements)."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CatalogProvider(_Value):
    id: UUID
    name: str = Field(min_length=1, max_length=100)
    base_url: str
    sealed_key: str | None = None
    """The API key, sealed (see `Sealer`); None: the provider needs none."""
    key_last4: str | None = None


class CatalogModel(_Value):
    id: UUID
    name: str = Field(min_length=1, max_length=128)
    """What users pick."""
    provider_id: UUID
    upstream: str = Field(min_length=1)
    """The provider's own model id."""
    enabled: bool = True
    context_window: int = Field(default=8192, ge=1)
    max_tokens: int = Field(default=1024, ge=1)
    input_price_per_mtok: float = Field(default=0.0, ge=0)
    output_price_per_mtok: float = Field(default=0.0, ge=0)
    concurrency: int | None = Field(default=None, ge=1, le=1024)
    defaults: Mapping[str, Any] = Field(default_factory=dict)
    """Default request parameters for the provider (e.g. `repeat_penalty`)."""


class CatalogUpdated(DomainEvent):
    type: Literal["catalog.updated"] = "catalog.updated"
    revision: int = Field(ge=0)
    """Grows with every change: a worker ignores a revision older than the one it runs."""
    providers: tuple[CatalogProvider, ...] = ()
    models: tuple[CatalogModel, ...] = ()
