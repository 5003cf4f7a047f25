"""Rows to domain types and back. Both sides name a field alike, so a mapping copies every
field by name and spells out only the ones that need more than a copy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from parley_auth.adapters.orm import Base

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")
R = TypeVar("R", bound=Base)
T = TypeVar("T")


def from_row(cls: type[D], row: Base, **converted: Any) -> D:
    """A `cls` with each of its fields read from `row`; `converted` gives those that are not a
    plain copy (an enum from its value, a dict of its own)."""
    return _build(cls, (f.name for f in fields(cls)), row, converted)


def to_row(cls: type[R], item: DataclassInstance, **converted: Any) -> R:
    """A new `cls` row with each field of `item`; `converted` gives those that are not a plain
    copy, and the columns `item` has no field for."""
    return _build(cls, (f.name for f in fields(item)), item, converted)


def _build(cls: type[T], names: Iterable[str], source: object, converted: dict[str, Any]) -> T:
    copied = {name: getattr(source, name) for name in names if name not in converted}
    return cls(**copied, **converted)
