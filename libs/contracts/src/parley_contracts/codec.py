"""Decoding events by `(type, version)`: a consumer names the events it knows
and gets a clear `UnsupportedEvent` for anything else, never a crash."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import ValidationError

from parley_contracts.envelope import Event


class UnsupportedEvent(ValueError):
    """The message is not an event this consumer knows: unknown type, unknown
    version, or a body that does not validate."""

    def __init__(self, reason: str, *, type_: str | None = None, version: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.type = type_
        self.version = version


def _event_key(model: type[Event]) -> tuple[str, int]:
    fields = model.model_fields
    type_name = fields["type"].default
    version = fields["version"].default
    if not isinstance(type_name, str) or not isinstance(version, int):
        raise TypeError(f"{model.__name__} must default its type and version")
    return type_name, version


class EventDecoder:
    """Decodes the events it was built with, by their `type` and `version`."""

    def __init__(self, models: Iterable[type[Event]]) -> None:
        self._models: dict[tuple[str, int], type[Event]] = {}
        for model in models:
            self._models[_event_key(model)] = model

    @property
    def known(self) -> frozenset[tuple[str, int]]:
        return frozenset(self._models)

    def decode(self, body: bytes | str) -> Event:
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UnsupportedEvent(f"body is not JSON: {exc}") from exc
        return self.decode_obj(raw)

    def decode_obj(self, raw: Any) -> Event:
        if not isinstance(raw, dict):
            raise UnsupportedEvent("body is not a JSON object")
        type_name, version = raw.get("type"), raw.get("version", 1)
        if not isinstance(type_name, str):
            raise UnsupportedEvent("event has no type", version=version)
        model = self._models.get((type_name, version)) if isinstance(version, int) else None
        if model is None:
            known = sorted(v for t, v in self._models if t == type_name)
            reason = (
                f"unknown event type {type_name!r}"
                if not known
                else f"unsupported version {version!r} of {type_name!r} (known: {known})"
            )
            raise UnsupportedEvent(reason, type_=type_name, version=version)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise UnsupportedEvent(
                f"invalid {type_name!r} v{version}: {exc.error_count()} error(s): "
                f"{exc.errors(include_url=False)[0]['msg']}",
                type_=type_name,
                version=version,
            ) from exc
