"""The `CatalogStore` on the database: providers and models as domain types, mapped from and
to the rows of `CatalogRepository` (no row leaves this module)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from parley_auth.adapters.catalog_repository import CatalogRepository
from parley_auth.adapters.mapping import from_row
from parley_auth.adapters.orm import ModelRow, ProviderRow
from parley_auth.adapters.repository import Database, SqlStore
from parley_auth.domain.catalog import MODEL_FIELDS, Model, Provider


def _model(row: ModelRow) -> Model:
    return from_row(Model, row, defaults=dict(row.defaults or {}))


_Row = TypeVar("_Row", ProviderRow, ModelRow)


def _still_there(row: _Row | None, what: str) -> _Row:
    """The row to save a change to; LookupError when it was deleted meanwhile."""
    if row is None:
        raise LookupError(f"{what} is gone")
    return row


def _set_provider(row: ProviderRow, provider: Provider) -> None:
    row.name, row.base_url = provider.name, provider.base_url
    row.sealed_key, row.key_last4 = provider.sealed_key, provider.key_last4
    row.updated_at = provider.updated_at


def _set_model(row: ModelRow, model: Model) -> None:
    for key in MODEL_FIELDS:
        setattr(row, key, getattr(model, key))
    row.defaults = dict(model.defaults)
    row.updated_at = model.updated_at


class SqlCatalog:
    """`Catalog` over one transaction's `CatalogRepository`."""

    def __init__(self, repo: CatalogRepository) -> None:
        self._repo = repo

    async def revision(self) -> int:
        return await self._repo.revision()

    async def bump(self, now: datetime) -> int:
        return await self._repo.bump(now)

    async def lock(self) -> int:
        return await self._repo.lock()

    async def seed_digest(self) -> str | None:
        return await self._repo.seed_digest()

    async def set_seed_digest(self, digest: str | None) -> None:
        await self._repo.set_seed_digest(digest)

    async def clear(self) -> None:
        await self._repo.clear()

    async def is_empty(self) -> bool:
        return await self._repo.is_empty()

    async def providers(self) -> list[Provider]:
        return [from_row(Provider, row) for row in await self._repo.providers()]

    async def models(self) -> list[Model]:
        return [_model(row) for row in await self._repo.models()]

    async def provider(self, provider_id: uuid.UUID) -> Provider | None:
        row = await self._repo.provider(provider_id)
        return None if row is None else from_row(Provider, row)

    async def model(self, model_id: uuid.UUID) -> Model | None:
        row = await self._repo.model(model_id)
        return None if row is None else _model(row)

    async def provider_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        return await self._repo.provider_name_taken(name, other_than=other_than)

    async def model_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        return await self._repo.model_name_taken(name, other_than=other_than)

    async def model_names_of(self, provider_id: uuid.UUID) -> list[str]:
        return await self._repo.model_names_of(provider_id)

    async def add_provider(self, provider: Provider) -> None:
        row = ProviderRow(id=provider.id, created_at=provider.created_at)
        _set_provider(row, provider)
        await self._repo.add(row)

    async def save_provider(self, provider: Provider) -> None:
        row = await self._repo.provider(provider.id)  # the session's own row when it was read before
        _set_provider(_still_there(row, f"provider {provider.id}"), provider)
        await self._repo.flush()

    async def delete_provider(self, provider_id: uuid.UUID) -> None:
        await self._delete(await self._repo.provider(provider_id))

    async def add_model(self, model: Model) -> None:
        row = ModelRow(id=model.id, created_at=model.created_at)
        _set_model(row, model)
        await self._repo.add(row)

    async def save_model(self, model: Model) -> None:
        row = await self._repo.model(model.id)
        _set_model(_still_there(row, f"model {model.id}"), model)
        await self._repo.flush()

    async def delete_model(self, model_id: uuid.UUID) -> None:
        await self._delete(await self._repo.model(model_id))

    async def _delete(self, row: ProviderRow | ModelRow | None) -> None:
        """Deleting what is gone already changes nothing."""
        if row is not None:
            await self._repo.delete(row)


class SqlCatalogStore(SqlStore[SqlCatalog]):
    """`CatalogStore` on a `Database`."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, lambda repo: SqlCatalog(repo.catalog))
