"""The model catalogue's use cases (`services/catalog.py`, `catalog_keys.py`,
`catalog_seed.py`) wired from `Auth`: what the routes, the `catalog.requests` consumer,
the app's start and its periodic task call."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

from parley_auth.bootstrap import Auth
from parley_auth.domain.catalog import Model, Provider
from parley_auth.services import catalog as use_cases
from parley_auth.services.catalog import CatalogView
from parley_auth.services.catalog_keys import reseal as reseal_keys
from parley_auth.services.catalog_seed import seed as seed_catalog
from parley_contracts.catalog import SYSTEM_USER, CatalogUpdated

__all__ = [
    "CatalogView", "announce", "create_model", "create_provider", "current", "delete_model",
    "delete_provider", "read", "reseal", "seed", "update_model", "update_provider",
]  # fmt: skip


async def read(*, auth: Auth) -> CatalogView:
    return await use_cases.read(catalog=auth.catalog)


async def current(*, auth: Auth, user_id: str = SYSTEM_USER) -> CatalogUpdated:
    """The whole catalogue as it is now (what a starting worker asks for)."""
    return await use_cases.current(catalog=auth.catalog, user_id=user_id)


async def announce(*, auth: Auth) -> CatalogUpdated:
    """Publish the current catalogue again, so that a lost `catalog.updated` heals."""
    return await use_cases.announce(catalog=auth.catalog, publisher=auth.publisher)


async def create_provider(
    user_id: str, *, name: str, base_url: str, api_key: str | None, auth: Auth
) -> Provider:
    return await use_cases.create_provider(
        user_id, name=name, base_url=base_url, api_key=api_key, catalog=auth.catalog,
        publisher=auth.publisher, clock=auth.now, sealer=auth.sealer,
        egress_policy=auth.settings.catalog_egress(),
    )  # fmt: skip


async def update_provider(
    user_id: str, provider_id: uuid.UUID, changes: Mapping[str, Any], *, auth: Auth
) -> Provider:
    return await use_cases.update_provider(
        user_id, provider_id, changes, catalog=auth.catalog, publisher=auth.publisher, clock=auth.now,
        sealer=auth.sealer, egress_policy=auth.settings.catalog_egress(),
    )  # fmt: skip


async def delete_provider(user_id: str, provider_id: uuid.UUID, *, auth: Auth) -> None:
    await use_cases.delete_provider(
        user_id, provider_id, catalog=auth.catalog, publisher=auth.publisher, clock=auth.now
    )


async def create_model(user_id: str, fields: Mapping[str, Any], *, auth: Auth) -> Model:
    return await use_cases.create_model(
        user_id, fields, catalog=auth.catalog, publisher=auth.publisher, clock=auth.now
    )


async def update_model(user_id: str, model_id: uuid.UUID, changes: Mapping[str, Any], *, auth: Auth) -> Model:
    return await use_cases.update_model(
        user_id, model_id, changes, catalog=auth.catalog, publisher=auth.publisher, clock=auth.now
    )


async def delete_model(user_id: str, model_id: uuid.UUID, *, auth: Auth) -> None:
    await use_cases.delete_model(
        user_id, model_id, catalog=auth.catalog, publisher=auth.publisher, clock=auth.now
    )


async def reseal(*, auth: Auth) -> int:
    """Seal provider keys stored in an older format again (at start)."""
    return await reseal_keys(catalog=auth.catalog, sealer=auth.sealer)


async def seed(*, auth: Auth, environ: Mapping[str, str] | None = None) -> bool:
    """Seed the catalogue from the models file while no admin has changed it (at start)."""
    return await seed_catalog(
        auth.settings.models_file_entries(), source=auth.settings.models_file,
        environ=os.environ if environ is None else environ, catalog=auth.catalog,
        publisher=auth.publisher, clock=auth.now, sealer=auth.sealer,
    )  # fmt: skip
