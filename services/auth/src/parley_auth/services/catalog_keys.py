"""Provider API keys at rest: sealed (AES-GCM under `PARLEY_CATALOG_SECRET`) bound to their
provider's id and base URL."""

from __future__ import annotations

import logging
import uuid

from parley_auth.domain.catalog import Provider, key_last4
from parley_auth.domain.errors import Unavailable
from parley_auth.ports import CatalogStore
from parley_platform.sealing import Sealer, SealError, provider_binding

log = logging.getLogger(__name__)


def require_sealer(sealer: Sealer | None) -> Sealer:
    if sealer is None:
        raise Unavailable(
            "provider API keys cannot be stored: PARLEY_CATALOG_SECRET is not set on the auth service"
        )
    return sealer


def seal(
    api_key: str, provider_id: uuid.UUID, base_url: str, *, sealer: Sealer | None
) -> tuple[str, str | None]:
    sealed = require_sealer(sealer).seal(api_key, bound_to=provider_binding(provider_id, base_url))
    return sealed, key_last4(api_key)


def resealed(provider: Provider, base_url: str, *, sealer: Sealer | None) -> str | None:
    """The provider's key sealed again, for `base_url` and in the current format."""
    if provider.sealed_key is None:
        return None
    opener = require_sealer(sealer)
    key = opener.open(provider.sealed_key, bound_to=provider_binding(provider.id, provider.base_url))
    return opener.seal(key, bound_to=provider_binding(provider.id, base_url))


async def reseal(*, catalog: CatalogStore, sealer: Sealer | None) -> int:
    """Seal again every provider key stored in an older format (bound to nothing), bound to
    its provider's id and base URL; how many. A key that does not open stays as it is (logged):
    it may have been sealed with another secret, and dropping it would lose it."""
    if sealer is None:
        return 0
    count = 0
    async with catalog.transaction() as records:
        for provider in await records.providers():
            if provider.sealed_key is None or not Sealer.needs_reseal(provider.sealed_key):
                continue
            try:
                provider.sealed_key = resealed(provider, provider.base_url, sealer=sealer)
            except SealError as exc:
                log.error("provider %s: its key cannot be sealed again: %s", provider.id, exc)
                continue
            await records.save_provider(provider)
            count += 1
    if count:
        log.info("sealed %d provider key(s) again in the current format", count)
    return count
