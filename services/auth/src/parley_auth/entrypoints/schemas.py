"""Request and response bodies of the REST API."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from parley_auth.domain.accounts import PASSWORD_MAX_LENGTH
from parley_auth.domain.catalog import (
    MAX_CONCURRENCY,
    MAX_CONTEXT_WINDOW,
    MAX_PRICE_PER_MTOK,
    check_api_key,
    check_base_url,
    check_defaults,
)


def _printable(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value) or "\x7f" in value:
        raise ValueError("control characters are not allowed")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("unpaired surrogates are not allowed")
    return value


Printable = AfterValidator(_printable)


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=100), Printable, AfterValidator(_name)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX_LENGTH), Printable]


class _In(BaseModel):
    # Strict: `true` is not a temperature and `"5"` is not a budget.
    model_config = ConfigDict(extra="forbid", strict=True)


class _Out(BaseModel):
    # Answers are read off the domain's dataclasses by attribute (`ProviderOut.model_validate(provider)`).
    model_config = ConfigDict(from_attributes=True)


class RegisterIn(_In):
    email: Annotated[EmailStr, StringConstraints(max_length=254)]
    display_name: Name
    password: Password
    bootstrap_token: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    """The operator's `PARLEY_AUTH_BOOTSTRAP_TOKEN`: makes this, the first admin."""


class LoginIn(_In):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254), Printable]
    password: Password


class ErrorOut(BaseModel):
    detail: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class Preferences(_In):
    theme: Literal["system", "light", "dark"] | None = None
    default_model: Annotated[str, StringConstraints(min_length=0, max_length=200), Printable] | None = None
    default_system_prompt: (
        Annotated[str, StringConstraints(min_length=0, max_length=8000), Printable] | None
    ) = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None


class UserOut(_Out):
    id: uuid.UUID
    email: str
    display_name: str
    role: Literal["user", "admin"]
    disabled: bool
    preferences: Preferences
    budget_tokens: int | None
    created_at: datetime


class MePatch(_In):
    display_name: Name | None = None
    preferences: Preferences | None = None


class PasswordChangeIn(_In):
    current_password: Password
    new_password: Password


class UsersPage(BaseModel):
    users: list[UserOut]
    total: int


class AdminUserPatch(_In):
    role: Literal["user", "admin"] | None = None
    disabled: bool | None = None
    budget_tokens: Annotated[int, Field(ge=0, le=10**12)] | None = None
    """Tokens per budget period; `null` returns the user to the default budget."""


class ApiKeyIn(_In):
    name: Name
    password: Password | None = None
    """The account's password: needed unless the session signed in within five minutes."""


class ApiKeyOut(_Out):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
    """The secret: shown this once, never again."""


class ApiKeysOut(BaseModel):
    keys: list[ApiKeyOut]


class TokenExchangeIn(_In):
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=200), Printable]


class UsageRowOut(_Out):
    user_id: str
    model: str
    day: date
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageOut(BaseModel):
    usage: list[UsageRowOut]


# The model catalogue (admins only)

BaseUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048), Printable, AfterValidator(check_base_url)
]
ApiKey = Annotated[str, StringConstraints(max_length=4096), AfterValidator(check_api_key)]
"""Write-only: stored sealed, answered as `key_last4` only; "" removes it."""
ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
]
"""What users pick; also part of the model's queue name, hence no spaces."""
Upstream = Annotated[str, StringConstraints(min_length=1, max_length=200), Printable, AfterValidator(_name)]
Tokens = Annotated[int, Field(ge=1, le=MAX_CONTEXT_WINDOW)]
PricePerMtok = Annotated[float, Field(ge=0.0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False)]
Concurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)]


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (ValueError, TypeError) as exc:
        raise ValueError("must be plain JSON (no NaN or Infinity)") from exc
    if len(value) > 64 or size > 8192:
        raise ValueError("at most 64 parameters and 8 KB")
    if any(not key or len(key) > 64 or any(ord(c) < 32 for c in key) for key in value):
        raise ValueError("parameter names are 1 to 64 printable characters")
    return dict(check_defaults(value))


Defaults = Annotated[dict[str, Any], AfterValidator(_small_json)]
"""Request fields sent with every request to the provider (e.g. `{"repeat_penalty": 1.1}`)."""


class _Patch(_In):
    """`null` is refused for fields that cannot be empty (`_NOT_NULL`)."""

    _NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in self._NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} must not be null")
        return self


class ProviderIn(_In):
    name: Name
    base_url: BaseUrl
    api_key: ApiKey | None = None


class ProviderPatch(_Patch):
    _NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "base_url")

    name: Name | SkipJsonSchema[None] = None
    base_url: BaseUrl | SkipJsonSchema[None] = None
    api_key: ApiKey | None = None
    """A new key; "" or null removes the key; absent leaves it as it is."""


class ProviderOut(_Out):
    id: uuid.UUID
    name: str
    base_url: str
    has_key: bool
    key_last4: str | None
    """The key's last four characters (None for no key, or a key shorter than 8)."""
    created_at: datetime
    updated_at: datetime


class ModelIn(_In):
    name: ModelName
    provider_id: Annotated[uuid.UUID, Field(strict=False)]
    upstream: Upstream
    """The provider's own model id."""
    enabled: bool = True
    context_window: Tokens = 8192
    max_tokens: Tokens = 1024
    """The longest answer; at most `context_window`."""
    input_price_per_mtok: PricePerMtok = 0.0
    output_price_per_mtok: PricePerMtok = 0.0
    concurrency: Concurrency | None = None
    """Generations one worker runs at once; null: the worker's default."""
    defaults: Defaults = Field(default_factory=dict)


class ModelPatch(_Patch):
    _NOT_NULL: ClassVar[tuple[str, ...]] = (
        "name", "provider_id", "upstream", "enabled", "context_window", "max_tokens",
        "input_price_per_mtok", "output_price_per_mtok", "defaults",
    )  # fmt: skip

    name: ModelName | SkipJsonSchema[None] = None
    provider_id: Annotated[uuid.UUID, Field(strict=False)] | SkipJsonSchema[None] = None
    upstream: Upstream | SkipJsonSchema[None] = None
    enabled: bool | SkipJsonSchema[None] = None
    context_window: Tokens | SkipJsonSchema[None] = None
    max_tokens: Tokens | SkipJsonSchema[None] = None
    input_price_per_mtok: PricePerMtok | SkipJsonSchema[None] = None
    output_price_per_mtok: PricePerMtok | SkipJsonSchema[None] = None
    concurrency: Concurrency | None = None
    defaults: Defaults | SkipJsonSchema[None] = None


class ModelOut(_Out):
    id: uuid.UUID
    name: str
    provider_id: uuid.UUID
    upstream: str
    enabled: bool
    context_window: int
    max_tokens: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    concurrency: int | None
    defaults: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class CatalogOut(BaseModel):
    revision: int
    """Grows with every change; `catalog.updated` events carry the same number."""
    providers: list[ProviderOut]
    models: list[ModelOut]
