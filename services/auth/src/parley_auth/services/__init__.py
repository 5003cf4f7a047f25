"""Use cases of accounts, sessions and API keys, each on the ports it needs (`ports.py`);
the entrypoints pass them from `Auth`. Usage and quotas (`services.usage`) and the model
catalogue (`services.catalog`, `catalog_keys`, `catalog_seed`) are on ports too, wired from
`Auth` by `parley_auth.usage` and `parley_auth.catalog`."""

from __future__ import annotations

from parley_auth.bootstrap import Auth
from parley_auth.domain.model import Account
from parley_auth.services import registration
from parley_auth.services.accounts import (
    admin_update_user,
    change_password,
    list_users,
    require_admin,
    update_profile,
)
from parley_auth.services.api_keys import create_api_key, exchange_api_key, list_api_keys, revoke_api_key
from parley_auth.services.registration import register
from parley_auth.services.sessions import authenticate, login, logout, optional_claims, refresh

__all__ = [
    "admin_update_user",
    "authenticate",
    "change_password",
    "create_api_key",
    "exchange_api_key",
    "grant_admin",
    "list_api_keys",
    "list_users",
    "login",
    "logout",
    "optional_claims",
    "refresh",
    "register",
    "require_admin",
    "revoke_api_key",
    "update_profile",
]


async def grant_admin(email: str, *, auth: Auth) -> Account:
    """The operator's command (`python -m parley_auth grant-admin EMAIL`), wired from `Auth`."""
    return await registration.grant_admin(email, accounts=auth.accounts, clock=auth.now)
