"""Use cases of the model catalogue that admins change at run time.

Every change bumps the catalogue's revision in its own transaction and, once
that transaction has committed, publishes `catalog.updated` with the whole
catalogue (provider keys sealed). A publish that fails is only logged: the
periodic re-announcement (`announce`) heals it, and workers ignore revisions
older than the one they run.

A provider's key is sealed bound to its id and base URL, and it is dropped when
the base URL moves to another host (unless the same change sets a new key): a
key goes to the server it was entered for, or nowhere. Base URLs whose host is
an internal address are refused unless `PARLEY_AUTH_CATALOG_EGRESS_ALLOW`
allows it; the workers check again when they connect.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from parley_auth.adapters.catalog_repository import CatalogRepository
from parley_auth.adapters.orm import ModelRow, ProviderRow
from parley_auth.adapters.rabbit import BrokerUnavailable
from parley_auth.bootstrap import Auth
from parley_auth.catalog_sealing import require_sealer, reseal_row, seal
from parley_auth.domain.catalog import check_limits, same_host
from parley_auth.domain.errors import Conflict, NotFound, PolicyViolation
from parley_contracts import new_id
from parley_contracts.catalog import SYSTEM_USER, CatalogModel, CatalogProvider, CatalogUpdated
from parley_platform import egress
from parley_platform.sealing import Sealer, SealError

log = logging.getLogger(__name__)

T = TypeVar("T")

_MODEL_FIELDS = (
    "name", "provider_id", "upstream", "enabled", "context_window", "max_tokens",
    "input_price_per_mtok", "output_price_per_mtok", "concurrency", "defaults",
)  # fmt: skip


@dataclass(frozen=True)
class CatalogView:
    revision: int
    providers: list[ProviderRow]
    models: list[ModelRow]


async def read(*, auth: Auth) -> CatalogView:
    async with auth.db.transaction() as repo:
        return CatalogView(
            await repo.catalog.revision(),
            list(await repo.catalog.providers()),
            list(await repo.catalog.models()),
        )


def _catalog_model(m: ModelRow) -> CatalogModel:
    return CatalogModel(
        id=m.id, name=m.name, provider_id=m.provider_id, upstream=m.upstream, enabled=m.enabled,
        context_window=m.context_window, max_tokens=m.max_tokens,
        input_price_per_mtok=m.input_price_per_mtok, output_price_per_mtok=m.output_price_per_mtok,
        concurrency=m.concurrency, defaults=dict(m.defaults or {}),
    )  # fmt: skip


async def snapshot(catalog: CatalogRepository, revision: int, user_id: str) -> CatalogUpdated:
    providers = [
        CatalogProvider(
            id=p.id, name=p.name, base_url=p.base_url, sealed_key=p.sealed_key, key_last4=p.key_last4
        )
        for p in await catalog.providers()
    ]
    return CatalogUpdated(
        user_id=user_id,
        revision=revision,
        providers=tuple(providers),
        models=tuple(_catalog_model(m) for m in await catalog.models()),
    )


async def current(*, auth: Auth, user_id: str = SYSTEM_USER) -> CatalogUpdated:
    """The whole catalogue as it is now (what a starting worker asks for)."""
    async with auth.db.transaction() as repo:
        return await snapshot(repo.catalog, await repo.catalog.revision(), user_id)


async def publish(event: CatalogUpdated, *, auth: Auth) -> None:
    try:
        await auth.publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("catalog.updated revision %d not published (announced again later): %s",
                    event.revision, exc)  # fmt: skip


async def announce(*, auth: Auth) -> CatalogUpdated:
    """Publish the current catalogue again, so that a lost `catalog.updated` heals."""
    event = await current(auth=auth)
    await auth.publisher.publish(event)
    return event


async def _change(user_id: str, change: Callable[[CatalogRepository], Awaitable[T]], *, auth: Auth) -> T:
    async with auth.db.transaction() as repo:
        revision = await repo.catalog.bump(auth.now())
        await repo.catalog.set_seed_digest(None)  # an admin's catalogue no longer follows the file
        result = await change(repo.catalog)
        event = await snapshot(repo.catalog, revision, user_id)
    await publish(event, auth=auth)
    log.info("catalogue revision %d by %s", revision, user_id)
    return result


async def _check_egress(base_url: str, *, auth: Auth) -> None:
    """Refuse a base URL whose host is, or resolves to, an internal address the operator did
    not allow. The reason names the kind of address, never the addresses."""
    try:
        await egress.check_url(base_url, auth.settings.catalog_egress())
    except egress.EgressRefused as exc:
        raise PolicyViolation(
            f"the base URL's host is {exc.reason}, which providers may not point to "
            "(PARLEY_AUTH_CATALOG_EGRESS_ALLOW allows chosen networks)",
            field="base_url",
        ) from None
    except OSError as exc:  # the workers resolve and check it again when they connect
        log.info("provider base URL host does not resolve here (%s): accepted", type(exc).__name__)


async def create_provider(
    user_id: str, *, name: str, base_url: str, api_key: str | None, auth: Auth
) -> ProviderRow:
    await _check_egress(base_url, auth=auth)
    provider_id = new_id()
    sealed, last4 = seal(api_key, provider_id, base_url, auth=auth) if api_key else (None, None)

    async def change(catalog: CatalogRepository) -> ProviderRow:
        if await catalog.provider_name_taken(name):
            raise Conflict(f"a provider named {name!r} exists")
        now = auth.now()
        row = ProviderRow(
            id=provider_id, name=name, base_url=base_url, sealed_key=sealed, key_last4=last4,
            created_at=now, updated_at=now,
        )  # fmt: skip
        await catalog.add(row)
        return row

    return await _change(user_id, change, auth=auth)


async def update_provider(
    user_id: str, provider_id: uuid.UUID, changes: Mapping[str, Any], *, auth: Auth
) -> ProviderRow:
    """`changes`: `name`, `base_url`, `api_key` (None or "" removes the key). A base URL on
    another host (scheme, host or port) removes the key unless `api_key` sets one."""
    if "base_url" in changes:
        await _check_egress(changes["base_url"], auth=auth)
    if changes.get("api_key"):
        require_sealer(auth)  # refused before anything changes

    async def change(catalog: CatalogRepository) -> ProviderRow:
        row = await catalog.provider(provider_id)
        if row is None:
            raise NotFound("provider not found")
        if "name" in changes and await catalog.provider_name_taken(changes["name"], other_than=row.id):
            raise Conflict(f"a provider named {changes['name']!r} exists")
        base_url = changes.get("base_url", row.base_url)
        if "api_key" in changes:
            key = changes["api_key"]
            row.sealed_key, row.key_last4 = seal(key, row.id, base_url, auth=auth) if key else (None, None)
        elif row.sealed_key is not None and not same_host(row.base_url, base_url):
            log.warning("provider %s moved to another host: its API key is removed", row.id)
            row.sealed_key = row.key_last4 = None
        elif row.sealed_key is not None and base_url != row.base_url:
            try:
                reseal_row(row, base_url, auth=auth)
            except SealError as exc:  # sealed with another secret: no worker opens it anyway
                log.error("provider %s: its key cannot be sealed for the new URL: %s", row.id, exc)
        row.name = changes.get("name", row.name)
        row.base_url = base_url
        row.updated_at = auth.now()
        await catalog.flush()
        return row

    return await _change(user_id, change, auth=auth)


async def delete_provider(user_id: str, provider_id: uuid.UUID, *, auth: Auth) -> None:
    async def change(catalog: CatalogRepository) -> None:
        row = await catalog.provider(provider_id)
        if row is None:
            raise NotFound("provider not found")
        users = await catalog.model_names_of(row.id)
        if users:
            raise Conflict(
                f"provider {row.name!r} is used by {len(users)} model(s) ({', '.join(users[:10])}): "
                "delete them or move them to another provider first"
            )
        await catalog.delete(row)

    await _change(user_id, change, auth=auth)


async def _check_model(catalog: CatalogRepository, model_id: uuid.UUID, values: Mapping[str, Any]) -> None:
    """Checked before any row changes: a query would flush a changed row first."""
    if await catalog.model_name_taken(values["name"], other_than=model_id):
        raise Conflict(f"a model named {values['name']!r} exists")
    if await catalog.provider(values["provider_id"]) is None:
        raise PolicyViolation("no provider has this id", field="provider_id")
    problem = check_limits(context_window=values["context_window"], max_tokens=values["max_tokens"])
    if problem:
        raise PolicyViolation(problem, field="max_tokens")


async def create_model(user_id: str, fields: Mapping[str, Any], *, auth: Auth) -> ModelRow:
    """`fields`: every column of `ModelRow` a client sets (see `_MODEL_FIELDS`)."""

    async def change(catalog: CatalogRepository) -> ModelRow:
        now = auth.now()
        values = {k: fields[k] for k in _MODEL_FIELDS}
        row = ModelRow(id=new_id(), created_at=now, updated_at=now, **values)
        await _check_model(catalog, row.id, values)
        await catalog.add(row)
        return row

    return await _change(user_id, change, auth=auth)


async def update_model(
    user_id: str, model_id: uuid.UUID, changes: Mapping[str, Any], *, auth: Auth
) -> ModelRow:
    async def change(catalog: CatalogRepository) -> ModelRow:
        row = await catalog.model(model_id)
        if row is None:
            raise NotFound("model not found")
        await _check_model(catalog, row.id, {k: changes.get(k, getattr(row, k)) for k in _MODEL_FIELDS})
        for key in _MODEL_FIELDS:
            if key in changes:
                setattr(row, key, changes[key])
        row.updated_at = auth.now()
        await catalog.flush()
        return row

    return await _change(user_id, change, auth=auth)


async def delete_model(user_id: str, model_id: uuid.UUID, *, auth: Auth) -> None:
    async def change(catalog: CatalogRepository) -> None:
        row = await catalog.model(model_id)
        if row is None:
            raise NotFound("model not found")
        await catalog.delete(row)

    await _change(user_id, change, auth=auth)


async def reseal(*, auth: Auth) -> int:
    """Seal again every provider key stored in an older format (bound to nothing), bound to
    its provider's id and base URL; how many. A key that does not open stays as it is (logged):
    it may have been sealed with another secret, and dropping it would lose it."""
    if auth.sealer is None:
        return 0
    count = 0
    async with auth.db.transaction() as repo:
        for row in await repo.catalog.providers():
            if row.sealed_key is None or not Sealer.needs_reseal(row.sealed_key):
                continue
            try:
                reseal_row(row, row.base_url, auth=auth)
            except SealError as exc:
                log.error("provider %s: its key cannot be sealed again: %s", row.id, exc)
                continue
            count += 1
        if count:
            await repo.catalog.flush()
    if count:
        log.info("sealed %d provider key(s) again in the current format", count)
    return count
