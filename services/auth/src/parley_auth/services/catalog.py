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

from parley_auth.domain.catalog import MODEL_FIELDS, Model, Provider, check_limits, same_host
from parley_auth.domain.errors import Conflict, NotFound, PolicyViolation
from parley_auth.ports import BrokerUnavailable, Catalog, CatalogStore, EventPublisher, Now
from parley_auth.services.catalog_keys import require_sealer, resealed, seal
from parley_contracts import new_id
from parley_contracts.catalog import SYSTEM_USER, CatalogModel, CatalogProvider, CatalogUpdated
from parley_platform import egress
from parley_platform.egress import EgressPolicy
from parley_platform.sealing import Sealer, SealError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogView:
    revision: int
    providers: list[Provider]
    models: list[Model]


async def read(*, catalog: CatalogStore) -> CatalogView:
    async with catalog.transaction() as records:
        return CatalogView(await records.revision(), await records.providers(), await records.models())


async def snapshot(records: Catalog, revision: int, user_id: str) -> CatalogUpdated:
    providers = [
        CatalogProvider(
            id=p.id, name=p.name, base_url=p.base_url, sealed_key=p.sealed_key, key_last4=p.key_last4
        )
        for p in await records.providers()
    ]
    return CatalogUpdated(
        user_id=user_id,
        revision=revision,
        providers=tuple(providers),
        models=tuple(_catalog_model(m) for m in await records.models()),
    )


def _catalog_model(m: Model) -> CatalogModel:
    return CatalogModel(
        id=m.id, name=m.name, provider_id=m.provider_id, upstream=m.upstream, enabled=m.enabled,
        context_window=m.context_window, max_tokens=m.max_tokens,
        input_price_per_mtok=m.input_price_per_mtok, output_price_per_mtok=m.output_price_per_mtok,
        concurrency=m.concurrency, defaults=dict(m.defaults),
    )  # fmt: skip


async def current(*, catalog: CatalogStore, user_id: str = SYSTEM_USER) -> CatalogUpdated:
    """The whole catalogue as it is now (what a starting worker asks for)."""
    async with catalog.transaction() as records:
        return await snapshot(records, await records.revision(), user_id)


async def publish(event: CatalogUpdated, *, publisher: EventPublisher) -> None:
    try:
        await publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("catalog.updated revision %d not published (announced again later): %s",
                    event.revision, exc)  # fmt: skip


async def announce(*, catalog: CatalogStore, publisher: EventPublisher) -> CatalogUpdated:
    """Publish the current catalogue again, so that a lost `catalog.updated` heals."""
    event = await current(catalog=catalog)
    await publisher.publish(event)
    return event


async def create_provider(
    user_id: str, *, name: str, base_url: str, api_key: str | None, catalog: CatalogStore,
    publisher: EventPublisher, clock: Now, sealer: Sealer | None, egress_policy: EgressPolicy,
) -> Provider:  # fmt: skip
    await _check_egress(base_url, egress_policy)
    provider_id = new_id()
    sealed, last4 = seal(api_key, provider_id, base_url, sealer=sealer) if api_key else (None, None)

    async def change(records: Catalog) -> Provider:
        if await records.provider_name_taken(name):
            raise Conflict(f"a provider named {name!r} exists")
        now = clock()
        provider = Provider(
            id=provider_id, name=name, base_url=base_url, sealed_key=sealed, key_last4=last4,
            created_at=now, updated_at=now,
        )  # fmt: skip
        await records.add_provider(provider)
        return provider

    return await _change(user_id, change, catalog=catalog, publisher=publisher, clock=clock)


async def update_provider(
    user_id: str, provider_id: uuid.UUID, changes: Mapping[str, Any], *, catalog: CatalogStore,
    publisher: EventPublisher, clock: Now, sealer: Sealer | None, egress_policy: EgressPolicy,
) -> Provider:  # fmt: skip
    """`changes`: `name`, `base_url`, `api_key` (None or "" removes the key). A base URL on
    another host (scheme, host or port) removes the key unless `api_key` sets one."""
    if "base_url" in changes:
        await _check_egress(changes["base_url"], egress_policy)
    if changes.get("api_key"):
        require_sealer(sealer)  # refused before anything changes

    async def change(records: Catalog) -> Provider:
        provider = await records.provider(provider_id)
        if provider is None:
            raise NotFound("provider not found")
        if "name" in changes and await records.provider_name_taken(changes["name"], other_than=provider.id):
            raise Conflict(f"a provider named {changes['name']!r} exists")
        base_url = changes.get("base_url", provider.base_url)
        if "api_key" in changes:
            key = changes["api_key"]
            provider.sealed_key, provider.key_last4 = (
                seal(key, provider.id, base_url, sealer=sealer) if key else (None, None)
            )
        elif provider.sealed_key is not None and not same_host(provider.base_url, base_url):
            log.warning("provider %s moved to another host: its API key is removed", provider.id)
            provider.sealed_key = provider.key_last4 = None
        elif provider.sealed_key is not None and base_url != provider.base_url:
            try:
                provider.sealed_key = resealed(provider, base_url, sealer=sealer)
            except SealError as exc:  # sealed with another secret: no worker opens it anyway
                log.error("provider %s: its key cannot be sealed for the new URL: %s", provider.id, exc)
        provider.name = changes.get("name", provider.name)
        provider.base_url = base_url
        provider.updated_at = clock()
        await records.save_provider(provider)
        return provider

    return await _change(user_id, change, catalog=catalog, publisher=publisher, clock=clock)


async def delete_provider(
    user_id: str, provider_id: uuid.UUID, *, catalog: CatalogStore, publisher: EventPublisher, clock: Now
) -> None:
    async def change(records: Catalog) -> None:
        provider = await records.provider(provider_id)
        if provider is None:
            raise NotFound("provider not found")
        users = await records.model_names_of(provider.id)
        if users:
            raise Conflict(
                f"provider {provider.name!r} is used by {len(users)} model(s) ({', '.join(users[:10])}): "
                "delete them or move them to another provider first"
            )
        await records.delete_provider(provider.id)

    await _change(user_id, change, catalog=catalog, publisher=publisher, clock=clock)


async def create_model(
    user_id: str, fields: Mapping[str, Any], *, catalog: CatalogStore, publisher: EventPublisher, clock: Now
) -> Model:
    """`fields`: every field of a model a client sets (`MODEL_FIELDS`)."""

    async def change(records: Catalog) -> Model:
        now = clock()
        model = Model(id=new_id(), created_at=now, updated_at=now, **{k: fields[k] for k in MODEL_FIELDS})
        await _check_model(records, model)
        await records.add_model(model)
        return model

    return await _change(user_id, change, catalog=catalog, publisher=publisher, clock=clock)


async def update_model(
    user_id: str, model_id: uuid.UUID, changes: Mapping[str, Any], *, catalog: CatalogStore,
    publisher: EventPublisher, clock: Now,
) -> Model:  # fmt: skip
    async def change(records: Catalog) -> Model:
        model = await records.model(model_id)
        if model is None:
            raise NotFound("model not found")
        for key in MODEL_FIELDS:
            if key in changes:
                setattr(model, key, changes[key])
        await _check_model(records, model)
        model.updated_at = clock()
        await records.save_model(model)
        return model

    return await _change(user_id, change, catalog=catalog, publisher=publisher, clock=clock)


async def delete_model(
    user_id: str, model_id: uuid.UUID, *, catalog: CatalogStore, publisher: EventPublisher, clock: Now
) -> None:
    async def change(records: Catalog) -> None:
        if await records.model(model_id) is None:
            raise NotFound("model not found")
        await records.delete_model(model_id)

    await _change(user_id, change, catalog=catalog, publisher=publisher, clock=clock)


async def _change(
    user_id: str, change: Callable[[Catalog], Awaitable[T]], *, catalog: CatalogStore,
    publisher: EventPublisher, clock: Now,
) -> T:  # fmt: skip
    async with catalog.transaction() as records:
        revision = await records.bump(clock())
        await records.set_seed_digest(None)  # an admin's catalogue no longer follows the file
        result = await change(records)
        event = await snapshot(records, revision, user_id)
    await publish(event, publisher=publisher)
    log.info("catalogue revision %d by %s", revision, user_id)
    return result


async def _check_egress(base_url: str, policy: EgressPolicy) -> None:
    """Refuse a base URL whose host is, or resolves to, an internal address the operator did
    not allow. The reason names the kind of address, never the addresses."""
    try:
        await egress.check_url(base_url, policy)
    except egress.EgressRefused as exc:
        raise PolicyViolation(
            f"the base URL's host is {exc.reason}, which providers may not point to "
            "(PARLEY_AUTH_CATALOG_EGRESS_ALLOW allows chosen networks)",
            field="base_url",
        ) from None
    except OSError as exc:  # the workers resolve and check it again when they connect
        log.info("provider base URL host does not resolve here (%s): accepted", type(exc).__name__)


async def _check_model(records: Catalog, model: Model) -> None:
    if await records.model_name_taken(model.name, other_than=model.id):
        raise Conflict(f"a model named {model.name!r} exists")
    if await records.provider(model.provider_id) is None:
        raise PolicyViolation("no provider has this id", field="provider_id")
    problem = check_limits(context_window=model.context_window, max_tokens=model.max_tokens)
    if problem:
        raise PolicyViolation(problem, field="max_tokens")
