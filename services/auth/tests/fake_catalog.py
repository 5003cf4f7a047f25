"""The model catalogue in dicts (the other fakes are in `fakes.py`): reads return copies, so
that only a save changes it, and a transaction that raises leaves it as it was."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from parley_auth.domain.catalog import Model, Provider
from parley_auth.domain.errors import Conflict


@dataclass
class _State:
    revision: int = 0
    seed_digest: str | None = None
    providers: dict[uuid.UUID, Provider] = field(default_factory=dict)
    models: dict[uuid.UUID, Model] = field(default_factory=dict)


class FakeCatalogStore:
    def __init__(self) -> None:
        self.state = _State()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeCatalog]:
        saved = copy.deepcopy(self.state)
        try:
            yield FakeCatalog(self.state)
        except BaseException:
            self.state = saved
            raise


class FakeCatalog:
    """`Catalog` over a `FakeCatalogStore`'s state."""

    def __init__(self, state: _State) -> None:
        self._state = state

    async def revision(self) -> int:
        return self._state.revision

    async def bump(self, now: datetime) -> int:
        self._state.revision += 1
        return self._state.revision

    async def lock(self) -> int:
        return self._state.revision

    async def seed_digest(self) -> str | None:
        return self._state.seed_digest

    async def set_seed_digest(self, digest: str | None) -> None:
        self._state.seed_digest = digest

    async def clear(self) -> None:
        self._state.providers.clear()
        self._state.models.clear()

    async def is_empty(self) -> bool:
        return not self._state.providers

    async def providers(self) -> list[Provider]:
        return copy.deepcopy(sorted(self._state.providers.values(), key=lambda p: p.name))

    async def models(self) -> list[Model]:
        return copy.deepcopy(sorted(self._state.models.values(), key=lambda m: m.name))

    async def provider(self, provider_id: uuid.UUID) -> Provider | None:
        return copy.deepcopy(self._state.providers.get(provider_id))

    async def model(self, model_id: uuid.UUID) -> Model | None:
        return copy.deepcopy(self._state.models.get(model_id))

    async def provider_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        return any(p.name == name and p.id != other_than for p in self._state.providers.values())

    async def model_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        return any(m.name == name and m.id != other_than for m in self._state.models.values())

    async def model_names_of(self, provider_id: uuid.UUID) -> list[str]:
        return sorted(m.name for m in self._state.models.values() if m.provider_id == provider_id)

    async def add_provider(self, provider: Provider) -> None:
        _add(self._state.providers, provider, name_taken=await self.provider_name_taken(provider.name))

    async def save_provider(self, provider: Provider) -> None:
        _save(self._state.providers, provider)

    async def delete_provider(self, provider_id: uuid.UUID) -> None:
        assert not await self.model_names_of(provider_id)  # the database refuses it (RESTRICT)
        self._state.providers.pop(provider_id, None)

    async def add_model(self, model: Model) -> None:
        _add(self._state.models, model, name_taken=await self.model_name_taken(model.name))

    async def save_model(self, model: Model) -> None:
        _save(self._state.models, model)

    async def delete_model(self, model_id: uuid.UUID) -> None:
        self._state.models.pop(model_id, None)


_Entry = TypeVar("_Entry", Provider, Model)


def _add(entries: dict[uuid.UUID, _Entry], entry: _Entry, *, name_taken: bool) -> None:
    if name_taken:
        raise Conflict("the name is taken")
    entries[entry.id] = copy.deepcopy(entry)


def _save(entries: dict[uuid.UUID, _Entry], entry: _Entry) -> None:
    assert entry.id in entries
    entries[entry.id] = copy.deepcopy(entry)
