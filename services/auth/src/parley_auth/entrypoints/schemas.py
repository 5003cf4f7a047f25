"""Request and response bodies of the REST API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from parley_auth.domain.accounts import PASSWORD_MAX_LENGTH


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


class RegisterIn(_In):
    email: Annotated[EmailStr, StringConstraints(max_length=254)]
    display_name: Name
    password: Password


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


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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


class UsageRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    model: str
    day: date
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class UsageOut(BaseModel):
    usage: list[UsageRowOut]
