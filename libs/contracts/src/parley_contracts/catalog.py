"""The model catalogue that admins change at run time (owned by auth).

`catalog.updated` carries the whole catalogue after every change (and again
now and then), on `chat.events`, so that every worker applies it without a
restart; a worker that starts asks for the current one on `catalog.requests`
(request-reply) and answers with the same event. Provider keys travel
sealed (AES-GCM under `PARLEY_CATALOG_SECRET`, shared by auth and the
workers): the event is in the audit stream, a key must not be.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import Any, Literal
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


class SealError(ValueError):
    """A sealed value cannot be opened (another secret, or tampered with)."""


class Sealer:
    """Seals short secrets with AES-GCM under a key derived from a shared secret."""

    _PREFIX = "v1."

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the catalogue secret is empty")
        self._aead = AESGCM(hashlib.sha256(secret.encode()).digest())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Sealer | None:
        secret = (os.environ if environ is None else environ).get("PARLEY_CATALOG_SECRET", "")
        return cls(secret) if secret else None

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return self._PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(self._PREFIX):
            raise SealError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(self._PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealError("the value was sealed with another secret, or altered") from exc
