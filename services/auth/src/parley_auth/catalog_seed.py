"""Seeding the model catalogue from the inference models file, while no admin has changed it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping

from parley_auth.adapters.orm import ModelRow, ProviderRow
from parley_auth.bootstrap import Auth
from parley_auth.catalog import publish, snapshot
from parley_auth.catalog_sealing import seal
from parley_auth.domain.catalog import plan_seed
from parley_contracts import new_id
from parley_contracts.catalog import SYSTEM_USER

log = logging.getLogger(__name__)


async def seed(*, auth: Auth, environ: Mapping[str, str] | None = None) -> bool:
    """Import the models file into a catalogue nobody has changed yet: a fresh one (revision 0
    and empty), or one that is still an earlier seed of another models file (no admin changed
    it since: it follows the file). True when it did. A catalogue that admins changed, or
    emptied, stays as they left it."""
    entries = auth.settings.models_file_entries()
    if not entries:
        return False
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True, default=str).encode()).hexdigest()
    plan = plan_seed(entries, os.environ if environ is None else environ, can_seal=auth.sealer is not None)
    for reason in plan.skipped:
        log.warning("models file entry not imported into the catalogue: %s", reason)
    async with auth.db.transaction() as repo:
        catalog = repo.catalog
        fresh = await catalog.lock() == 0 and await catalog.is_empty()
        earlier_seed = await catalog.seed_digest()
        if not fresh and (earlier_seed is None or earlier_seed == digest):
            return False
        if not fresh:
            log.info("the models file changed and no admin changed the catalogue: seeding it again")
            await catalog.clear()
        revision = await catalog.bump(auth.now())
        await catalog.set_seed_digest(digest)
        now = auth.now()
        rows: dict[int, ProviderRow] = {}
        for provider in plan.providers:
            provider_id = new_id()
            sealed, last4 = None, None
            if provider.key:
                sealed, last4 = seal(provider.key, provider_id, provider.base_url, auth=auth)
            rows[id(provider)] = row = ProviderRow(
                id=provider_id, name=provider.name, base_url=provider.base_url, sealed_key=sealed,
                key_last4=last4, created_at=now, updated_at=now,
            )  # fmt: skip
            await catalog.add(row)
        for model in plan.models:
            if not model.enabled:
                log.warning("model %s imported disabled: its key (%s) is not available to auth%s",
                            model.name, model.provider.api_key_env,
                            "" if auth.sealer else " (PARLEY_CATALOG_SECRET is unset)")  # fmt: skip
            await catalog.add(
                ModelRow(
                    name=model.name, provider_id=rows[id(model.provider)].id, upstream=model.upstream,
                    enabled=model.enabled, context_window=model.context_window, max_tokens=model.max_tokens,
                    input_price_per_mtok=model.input_price_per_mtok,
                    output_price_per_mtok=model.output_price_per_mtok, concurrency=model.concurrency,
                    defaults=dict(model.defaults), created_at=now, updated_at=now,
                )
            )  # fmt: skip
        event = await snapshot(catalog, revision, SYSTEM_USER)
    log.info("catalogue seeded from %s: %d provider(s), %d model(s)",
             auth.settings.models_file, len(plan.providers), len(plan.models))  # fmt: skip
    await publish(event, auth=auth)
    return True
