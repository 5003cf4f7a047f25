"""Provider API keys at rest: sealed (AES-GCM under `PARLEY_CATALOG_SECRET`) bound to their
provider's id and base URL."""

from __future__ import annotations

import logging
import uuid

from parley_auth.adapters.orm import ProviderRow
from parley_auth.bootstrap import Auth
from parley_auth.domain.catalog import key_last4
from parley_auth.domain.errors import Unavailable
from parley_platform.sealing import Sealer, provider_binding

log = logging.getLogger(__name__)


def require_sealer(auth: Auth) -> Sealer:
    if auth.sealer is None:
        raise Unavailable(
            "provider API keys cannot be stored: PARLEY_CATALOG_SECRET is not set on the auth service"
        )
    return auth.sealer


def seal(api_key: str, provider_id: uuid.UUID, base_url: str, *, auth: Auth) -> tuple[str, str | None]:
    sealed = require_sealer(auth).seal(api_key, bound_to=provider_binding(provider_id, base_url))
    return sealed, key_last4(api_key)


def reseal_row(row: ProviderRow, base_url: str, *, auth: Auth) -> None:
    """Seal the row's key again, for `base_url` and in the current format."""
    if row.sealed_key is None:
        return
    sealer = require_sealer(auth)
    key = sealer.open(row.sealed_key, bound_to=provider_binding(row.id, row.base_url))
    row.sealed_key = sealer.seal(key, bound_to=provider_binding(row.id, base_url))
