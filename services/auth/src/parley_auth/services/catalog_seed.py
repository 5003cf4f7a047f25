"""Seeding the model catalogue from the inference models file, while no admin has changed it."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from parley_auth.domain.catalog import Model, Provider, SeedProvider, plan_seed
from parley_auth.ports import CatalogStore, EventPublisher, Now
from parley_auth.services.catalog import publish, snapshot
from parley_auth.services.catalog_keys import seal
from parley_contracts import new_id
from parley_contracts.catalog import SYSTEM_USER
from parley_platform.sealing import Sealer

log = logging.getLogger(__name__)


async def seed(
    entries: Sequence[Mapping[str, Any]], *, source: object, environ: Mapping[str, str],
    catalog: CatalogStore, publisher: EventPublisher, clock: Now, sealer: Sealer | None,
) -> bool:  # fmt: skip
    """Import the models file's `entries` (from `source`) into a catalogue nobody has changed
    yet: a fresh one (revision 0 and empty), or one that is still an earlier seed of another
    models file (no admin changed it since: it follows the file). True when it did. A
    catalogue that admins changed, or emptied, stays as they left it."""
    if not entries:
        return False
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True, default=str).encode()).hexdigest()
    plan = plan_seed(entries, environ, can_seal=sealer is not None)
    for reason in plan.skipped:
        log.warning("models file entry not imported into the catalogue: %s", reason)
    async with catalog.transaction() as records:
        fresh = await records.lock() == 0 and await records.is_empty()
        earlier_seed = await records.seed_digest()
        if not fresh and (earlier_seed is None or earlier_seed == digest):
            return False
        if not fresh:
            log.info("the models file changed and no admin changed the catalogue: seeding it again")
            await records.clear()
        revision = await records.bump(clock())
        await records.set_seed_digest(digest)
        now = clock()
        ids: dict[int, Provider] = {}
        for planned in plan.providers:
            ids[id(planned)] = provider = _provider(planned, now=now, sealer=sealer)
            await records.add_provider(provider)
        for model in plan.models:
            if not model.enabled:
                log.warning("model %s imported disabled: its key (%s) is not available to auth%s",
                            model.name, model.provider.api_key_env,
                            "" if sealer else " (PARLEY_CATALOG_SECRET is unset)")  # fmt: skip
            await records.add_model(
                Model(
                    id=new_id(), name=model.name, provider_id=ids[id(model.provider)].id,
                    upstream=model.upstream, enabled=model.enabled, context_window=model.context_window,
                    max_tokens=model.max_tokens, input_price_per_mtok=model.input_price_per_mtok,
                    output_price_per_mtok=model.output_price_per_mtok, concurrency=model.concurrency,
                    defaults=dict(model.defaults), created_at=now, updated_at=now,
                )
            )  # fmt: skip
        event = await snapshot(records, revision, SYSTEM_USER)
    log.info("catalogue seeded from %s: %d provider(s), %d model(s)",
             source, len(plan.providers), len(plan.models))  # fmt: skip
    await publish(event, publisher=publisher)
    return True


def _provider(planned: SeedProvider, *, now: datetime, sealer: Sealer | None) -> Provider:
    provider_id = new_id()
    sealed, last4 = None, None
    if planned.key:
        sealed, last4 = seal(planned.key, provider_id, planned.base_url, sealer=sealer)
    return Provider(
        id=provider_id, name=planned.name, base_url=planned.base_url, sealed_key=sealed, key_last4=last4,
        created_at=now, updated_at=now,
    )  # fmt: skip
