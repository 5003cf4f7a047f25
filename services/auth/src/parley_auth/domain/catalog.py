"""The model catalogue: its providers and models, the rules of provider URLs and keys and
of model limits, and the plan that turns a models file into a first catalogue. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

RESERVED_DEFAULTS = frozenset({"model", "messages", "stream", "stream_options"})
"""Request fields a model's default parameters may not set: the worker owns them."""

MAX_CONTEXT_WINDOW = 10_000_000
MAX_CONCURRENCY = 1024
MAX_PRICE_PER_MTOK = 1_000_000.0

_LAST4_MIN_KEY_LENGTH = 8
"""Shorter keys show no last four characters: that would give away half of one."""

MODEL_FIELDS = (
    "name", "provider_id", "upstream", "enabled", "context_window", "max_tokens",
    "input_price_per_mtok", "output_price_per_mtok", "concurrency", "defaults",
)  # fmt: skip
"""What a client sets of a model."""


@dataclass
class Provider:
    """An OpenAI-compatible endpoint, detached from the store (a change counts once saved);
    its API key only sealed, bound to its id and base URL."""

    id: uuid.UUID
    name: str
    base_url: str
    created_at: datetime
    updated_at: datetime
    sealed_key: str | None = None
    key_last4: str | None = None

    @property
    def has_key(self) -> bool:
        return self.sealed_key is not None


@dataclass
class Model:
    """A model as users pick it (`name`) and as its provider knows it (`upstream`)."""

    id: uuid.UUID
    name: str
    provider_id: uuid.UUID
    upstream: str
    created_at: datetime
    updated_at: datetime
    enabled: bool = True
    context_window: int = 8192
    max_tokens: int = 1024
    input_price_per_mtok: float = 0.0
    output_price_per_mtok: float = 0.0
    concurrency: int | None = None
    defaults: dict[str, Any] = field(default_factory=dict)


def check_base_url(value: str) -> str:
    """An http(s) URL with a host, without a trailing slash; ValueError says what is wrong."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL: {exc}") from exc
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or a fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (the API key is a field of its own)")
    return value.rstrip("/")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def same_host(a: str, b: str) -> bool:
    """True when two base URLs reach the same server (scheme, host and port): a provider's
    key may follow a change of path, never one of host (it would be sent there)."""
    return _origin(a) == _origin(b)


def check_api_key(value: str) -> str:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain whitespace or control characters")
    return value


def key_last4(key: str) -> str | None:
    return key[-4:] if len(key) >= _LAST4_MIN_KEY_LENGTH else None


def check_limits(*, context_window: int, max_tokens: int) -> str | None:
    """None when the limits fit together, else why not."""
    if max_tokens > context_window:
        return f"max_tokens ({max_tokens}) must not exceed context_window ({context_window})"
    return None


def check_defaults(value: Mapping[str, Any]) -> Mapping[str, Any]:
    reserved = sorted(RESERVED_DEFAULTS & set(value))
    if reserved:
        raise ValueError(f"must not set {', '.join(reserved)}: the worker sets those")
    return value


# Seeding from the models file


@dataclass(frozen=True)
class SeedProvider:
    name: str
    base_url: str
    api_key_env: str | None
    key: str | None
    """The key from the environment, when `api_key_env` names a variable that is set."""


@dataclass(frozen=True)
class SeedModel:
    provider: SeedProvider
    name: str
    upstream: str
    enabled: bool
    context_window: int
    max_tokens: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    concurrency: int | None
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SeedPlan:
    providers: list[SeedProvider] = field(default_factory=list)
    models: list[SeedModel] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Why each entry left out was left out."""


def _provider_names(pairs: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], str]:
    """One name per (base_url, api_key_env): the host; host:port when several share a host;
    a number after that when several still share a name."""
    hosts: dict[str, int] = {}
    for base_url, _ in pairs:
        host = urlsplit(base_url).hostname or base_url
        hosts[host] = hosts.get(host, 0) + 1
    names: dict[tuple[str, str | None], str] = {}
    taken: set[str] = set()
    for pair in pairs:
        parts = urlsplit(pair[0])
        host = parts.hostname or pair[0]
        base = (host if hosts[host] == 1 else parts.netloc)[:90]
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base} #{n}"
        taken.add(name)
        names[pair] = name
    return names


def _entry_int(entry: Mapping[str, Any], key: str, default: int | None, *, most: int) -> int | None:
    value = entry.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValueError(f"{key} must be a whole number from 1 to {most}")
    return value


def _entry_price(entry: Mapping[str, Any], key: str) -> float:
    value = entry.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a number of at least 0")
    return float(value)


def plan_seed(
    entries: Sequence[Mapping[str, Any]], environ: Mapping[str, str], *, can_seal: bool
) -> SeedPlan:
    """The first catalogue from the models file's entries. A model whose provider
    needs a key (`api_key_env`) that cannot be stored (unset here, or no secret to seal
    it with) is imported disabled: without its key it could not answer."""
    plan = SeedPlan()
    valid: list[tuple[Mapping[str, Any], str]] = []
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name")
        try:
            if not isinstance(name, str) or not name or name in seen or len(name) > 128:
                raise ValueError("a missing, repeated or too long name")
            base_url = check_base_url(str(entry.get("base_url", "")))
            if not isinstance(entry.get("model"), str) or not entry["model"]:
                raise ValueError("model (the provider's model id) is missing")
        except ValueError as exc:
            plan.skipped.append(f"{name!r}: {exc}")
            continue
        seen.add(name)
        valid.append((entry, base_url))
    pairs = list(dict.fromkeys((url, _key_env(entry)) for entry, url in valid))
    names = _provider_names(pairs)
    providers: dict[tuple[str, str | None], SeedProvider] = {}
    for pair in pairs:
        key = (environ.get(pair[1]) or None) if pair[1] else None
        providers[pair] = SeedProvider(names[pair], pair[0], pair[1], key if can_seal else None)
    for entry, base_url in valid:
        provider = providers[(base_url, _key_env(entry))]
        try:
            model = _seed_model(entry, provider)
        except ValueError as exc:
            plan.skipped.append(f"{entry['name']!r}: {exc}")
            continue
        plan.models.append(model)
    used = {id(m.provider) for m in plan.models}
    plan.providers = [p for p in providers.values() if id(p) in used]
    return plan


def _key_env(entry: Mapping[str, Any]) -> str | None:
    value = entry.get("api_key_env")
    return value if isinstance(value, str) and value else None


def _seed_model(entry: Mapping[str, Any], provider: SeedProvider) -> SeedModel:
    context_window = _entry_int(entry, "context_window", 8192, most=MAX_CONTEXT_WINDOW) or 8192
    max_tokens = _entry_int(entry, "max_tokens", 1024, most=MAX_CONTEXT_WINDOW) or 1024
    problem = check_limits(context_window=context_window, max_tokens=max_tokens)
    if problem:
        raise ValueError(problem)
    extra = entry.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise ValueError("extra must be a mapping")
    return SeedModel(
        provider=provider,
        name=str(entry["name"]),
        upstream=str(entry["model"])[:200],
        enabled=provider.api_key_env is None or provider.key is not None,
        context_window=context_window,
        max_tokens=max_tokens,
        input_price_per_mtok=_entry_price(entry, "input_price_per_mtok"),
        output_price_per_mtok=_entry_price(entry, "output_price_per_mtok"),
        concurrency=_entry_int(entry, "concurrency", None, most=MAX_CONCURRENCY),
        defaults=dict(check_defaults(extra)),
    )
