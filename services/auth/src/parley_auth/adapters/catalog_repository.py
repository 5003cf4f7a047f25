"""The model catalogue's queries, over the session of a `Repository` (`repo.catalog`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parley_auth.adapters.orm import CatalogStateRow, ModelRow, ProviderRow
from parley_auth.domain.errors import Conflict

_STATE_ID = 1


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revision(self) -> int:
        value = await self.session.scalar(
            select(CatalogStateRow.revision).where(CatalogStateRow.id == _STATE_ID)
        )
        return int(value or 0)

    async def bump(self, now: datetime) -> int:
        """The next revision. The row stays locked until the transaction ends, so that
        concurrent changes serialize and each snapshot is that of its revision."""
        result = await self.session.execute(
            update(CatalogStateRow)
            .where(CatalogStateRow.id == _STATE_ID)
            .values(revision=CatalogStateRow.revision + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not getattr(result, "rowcount", 0):  # a database migrated without its first row
            self.session.add(CatalogStateRow(id=_STATE_ID, revision=1, updated_at=now))
            await self.session.flush()
        return await self.revision()

    async def lock(self) -> int:
        """The revision, with the row locked (PostgreSQL) until the transaction ends."""
        value = await self.session.scalar(
            select(CatalogStateRow.revision).where(CatalogStateRow.id == _STATE_ID).with_for_update()
        )
        return int(value or 0)

    async def seed_digest(self) -> str | None:
        value = await self.session.scalar(
            select(CatalogStateRow.seed_digest).where(CatalogStateRow.id == _STATE_ID)
        )
        return str(value) if value is not None else None

    async def set_seed_digest(self, digest: str | None) -> None:
        await self.session.execute(
            update(CatalogStateRow)
            .where(CatalogStateRow.id == _STATE_ID)
            .values(seed_digest=digest)
            .execution_options(synchronize_session=False)
        )

    async def clear(self) -> None:
        """Every model and provider gone (a seeded catalogue replaced by a new seed)."""
        await self.session.execute(delete(ModelRow))
        await self.session.execute(delete(ProviderRow))

    async def is_empty(self) -> bool:
        count = await self.session.scalar(select(func.count()).select_from(ProviderRow))
        return not count

    async def providers(self) -> Sequence[ProviderRow]:
        return (await self.session.scalars(select(ProviderRow).order_by(ProviderRow.name))).all()

    async def models(self) -> Sequence[ModelRow]:
        return (await self.session.scalars(select(ModelRow).order_by(ModelRow.name))).all()

    async def provider(self, provider_id: uuid.UUID) -> ProviderRow | None:
        return await self.session.get(ProviderRow, provider_id)

    async def model(self, model_id: uuid.UUID) -> ModelRow | None:
        return await self.session.get(ModelRow, model_id)

    async def model_by_name(self, name: str) -> ModelRow | None:
        return await self.session.scalar(select(ModelRow).where(ModelRow.name == name))

    async def provider_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        statement = select(ProviderRow.id).where(ProviderRow.name == name)
        if other_than is not None:
            statement = statement.where(ProviderRow.id != other_than)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def model_name_taken(self, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        statement = select(ModelRow.id).where(ModelRow.name == name)
        if other_than is not None:
            statement = statement.where(ModelRow.id != other_than)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def model_names_of(self, provider_id: uuid.UUID) -> list[str]:
        rows = await self.session.scalars(
            select(ModelRow.name).where(ModelRow.provider_id == provider_id).order_by(ModelRow.name)
        )
        return list(rows.all())

    async def add(self, row: ProviderRow | ModelRow) -> None:
        self.session.add(row)
        await self.flush()

    async def delete(self, row: ProviderRow | ModelRow) -> None:
        await self.session.delete(row)
        await self.flush()

    async def flush(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as exc:  # a concurrent change took the name
            raise Conflict("the name is taken, or the change conflicts with another") from exc

    async def price(self, model: str) -> tuple[float, float] | None:
        """(input, output) price per million tokens of a model the catalogue knows."""
        row = (
            await self.session.execute(
                select(ModelRow.input_price_per_mtok, ModelRow.output_price_per_mtok).where(
                    ModelRow.name == model
                )
            )
        ).first()
        return None if row is None else (float(row[0]), float(row[1]))
