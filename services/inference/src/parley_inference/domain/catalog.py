"""The models a worker serves, as described by its models file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parley_contracts.catalog import CatalogModel, CatalogProvider, CatalogUpdated
from parley_inference.domain.errors import GenerationError, model_not_found
from parley_platform.sealing import Sealer, SealError, provider_binding


class ModelsFileError(ValueError):
    """The models file is missing or wrong; the message says what and where."""


class ModelSpec(BaseModel):
    """One model, as users pick it (`name`) and as the provider knows it (`model`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    base_url: str
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    """The environment variable that holds the API key; unset means no key."""
    api_key: str | None = Field(default=None, repr=False)
    """The key itself (runtime catalogue, unsealed); wins over `api_key_env`."""
    max_tokens: int = Field(default=1024, ge=1)
    context_window: int = Field(default=8192, ge=1)
    input_price_per_mtok: float = Field(default=0.0, ge=0)
    output_price_per_mtok: float = Field(default=0.0, ge=0)
    extra: Mapping[str, Any] = Field(default_factory=dict)
    """Extra request body fields for this provider (e.g. `repeat_penalty`)."""
    concurrency: int | None = Field(default=None, ge=1, le=1024)
    """Generations of this model one worker runs at once; the rest wait in the
    model's queue in RabbitMQ. Unset: the worker's default concurrency."""

    def concurrency_or(self, default: int) -> int:
        return self.concurrency if self.concurrency is not None else default

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class _ModelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelSpec] = Field(min_length=1)


class ModelCatalog:
    """Models by name; `get` raises `model_not_found` for any other name."""

    def __init__(self, models: list[ModelSpec]) -> None:
        self._models: dict[str, ModelSpec] = {}
        for spec in models:
            if spec.name in self._models:
                raise ModelsFileError(f"model {spec.name!r} is listed twice")
            self._models[spec.name] = spec

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._models)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def get(self, name: str) -> ModelSpec:
        spec = self._models.get(name)
        if spec is None:
            raise model_not_found(name, list(self._models))
        return spec

    def capacity(self, default_concurrency: int) -> int:
        """Generations a worker serving every model here runs at once, at most."""
        return sum(spec.concurrency_or(default_concurrency) for spec in self)

    def find(self, name: str) -> ModelSpec | None:
        try:
            return self.get(name)
        except GenerationError:
            return None


def with_keys_present(catalog: ModelCatalog, environ: Mapping[str, str]) -> tuple[ModelCatalog, list[str]]:
    """The models whose API key is available, and a line for each one left out:
    a model that names a key variable which is unset or empty is not served."""
    kept: list[ModelSpec] = []
    left_out: list[str] = []
    for spec in catalog:
        if spec.api_key_env and not environ.get(spec.api_key_env):
            left_out.append(
                f"model {spec.name!r} is not served: its key variable {spec.api_key_env} is not set"
            )
        else:
            kept.append(spec)
    return ModelCatalog(kept), left_out


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)


def parse_models(data: object, *, source: str = "models file") -> ModelCatalog:
    """A catalog from the parsed YAML: either a list of models or a mapping
    with a `models` list."""
    if isinstance(data, list):
        data = {"models": data}
    if not isinstance(data, dict):
        raise ModelsFileError(f"{source}: expected a list of models (or a 'models:' list)")
    try:
        parsed = _ModelsFile.model_validate(data)
    except ValidationError as exc:
        raise ModelsFileError(f"{source}: {_describe(exc)}") from None
    try:
        return ModelCatalog(parsed.models)
    except ModelsFileError as exc:
        raise ModelsFileError(f"{source}: {exc}") from None


def from_catalog_event(event: CatalogUpdated, sealer: Sealer | None) -> tuple[ModelCatalog, list[str]]:
    """The enabled models of a runtime catalogue, and a line for each one left
    out (its provider unknown, or its key sealed with a secret this worker lacks)."""
    providers = {p.id: p for p in event.providers}
    kept: list[ModelSpec] = []
    left_out: list[str] = []
    for model in event.models:
        if not model.enabled:
            continue
        try:
            kept.append(_runtime_spec(model, providers.get(model.provider_id), sealer))
        except _NotServed as exc:
            left_out.append(f"model {model.name!r} is not served: {exc}")
    return ModelCatalog(kept), left_out


class _NotServed(Exception):
    """Why a catalogue model is left out."""


def _runtime_spec(model: CatalogModel, provider: CatalogProvider | None, sealer: Sealer | None) -> ModelSpec:
    if provider is None:
        raise _NotServed("its provider is not in the catalogue")
    key = _provider_key(provider, sealer)
    try:
        return ModelSpec(
            name=model.name,
            base_url=provider.base_url,
            model=model.upstream,
            api_key=key,
            max_tokens=model.max_tokens,
            context_window=model.context_window,
            input_price_per_mtok=model.input_price_per_mtok,
            output_price_per_mtok=model.output_price_per_mtok,
            extra=dict(model.defaults),
            concurrency=model.concurrency,
        )
    except ValidationError as exc:
        raise _NotServed(_describe(exc)) from None


def _provider_key(provider: CatalogProvider, sealer: Sealer | None) -> str | None:
    """The provider's API key, unsealed; None when it has none."""
    if not provider.sealed_key:
        return None
    if sealer is None:
        raise _NotServed("its provider's key is sealed and PARLEY_CATALOG_SECRET is not set")
    try:
        return sealer.open(provider.sealed_key, bound_to=provider_binding(provider.id, provider.base_url))
    except SealError:
        raise _NotServed(
            "its provider's key does not open with this worker's PARLEY_CATALOG_SECRET "
            "for this provider and base URL"
        ) from None
