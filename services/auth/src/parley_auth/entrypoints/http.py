"""What the REST routers share: the prefix, the common error answers, the client address,
the same-site check of cookie routes, the `Day` query type, and domain types as bodies."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BeforeValidator

from parley_auth.bootstrap import Auth
from parley_auth.domain.errors import Forbidden
from parley_auth.domain.model import Account, ApiKey, Tokens
from parley_auth.domain.quota import DailyUsage
from parley_auth.entrypoints.schemas import (
    ApiKeyOut,
    ErrorOut,
    Preferences,
    TokenOut,
    UsageOut,
    UsageRowOut,
    UserOut,
)

PREFIX = "/api/auth"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired credentials", "model": ErrorOut},
    403: {"description": "Not allowed (not an admin, or the account is disabled)", "model": ErrorOut},
}


def api_router() -> APIRouter:
    """A router of `/api/auth/*` routes (several modules, one OpenAPI tag)."""
    return APIRouter(
        prefix=PREFIX,
        tags=["auth"],
        responses={400: {"description": "The request body is not JSON", "model": ErrorOut}},
    )


def _iso_day(value: object) -> object:
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("a day is YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar day as YYYY-MM-DD only (not a Unix timestamp)."""


def client_address(request: Request) -> str:
    """The client's address (from the trusted proxies' `X-Forwarded-For`, see settings)."""
    return request.client.host if request.client else "unknown"


def same_site(request: Request, auth: Auth) -> None:
    """Where the cookie alone acts, a browser page of another site is refused (behind an
    Ingress the browser's `Origin` and `Host` reach this service; the gateway checks its own)."""
    if not auth.origins.admits(request.headers):
        raise Forbidden("a request from another site is refused")


def user_out(account: Account) -> UserOut:
    return UserOut(
        id=account.id, email=account.email, display_name=account.display_name, role=account.role.value,
        disabled=account.disabled, preferences=Preferences.model_validate(account.preferences),
        budget_tokens=account.budget_tokens, created_at=account.created_at,
    )  # fmt: skip


def api_key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key)


def token_out(tokens: Tokens) -> TokenOut:
    return TokenOut(access_token=tokens.access_token, expires_in=tokens.expires_in)


def usage_out(lines: list[DailyUsage]) -> UsageOut:
    return UsageOut(usage=[UsageRowOut.model_validate(u) for u in lines])
