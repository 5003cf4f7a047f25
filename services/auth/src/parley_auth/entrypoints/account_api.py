"""`/api/auth/me` and `/api/auth/keys`: the signed-in account's profile, password, usage and API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, status

from parley_auth import services, usage
from parley_auth.deps import AuthDep, CurrentSession
from parley_auth.entrypoints.http import ERRORS, Day, api_key_out, api_router, usage_out, user_out
from parley_auth.entrypoints.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeysOut,
    ErrorOut,
    MePatch,
    PasswordChangeIn,
    UsageOut,
    UserOut,
)

router = api_router()


@router.get("/me", responses=ERRORS)
async def me(session: CurrentSession) -> UserOut:
    return user_out(session.user)


@router.patch("/me", responses=ERRORS)
async def update_me(body: MePatch, session: CurrentSession, auth: AuthDep) -> UserOut:
    preferences = body.preferences.model_dump(exclude_unset=True) if body.preferences else None
    account = await services.update_profile(
        session.user.id,
        display_name=body.display_name,
        preferences=preferences,
        accounts=auth.accounts,
        clock=auth.now,
    )
    return user_out(account)


_WRONG_PASSWORDS: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many wrong current passwords for this account", "model": ErrorOut}
}


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses={**ERRORS, **_WRONG_PASSWORDS})
async def change_password(body: PasswordChangeIn, session: CurrentSession, auth: AuthDep) -> None:
    """Changes the password and revokes every other session of the account."""
    await services.change_password(
        session.user.id,
        session.claims,
        body.current_password,
        body.new_password,
        accounts=auth.accounts,
        hasher=auth.hasher,
        throttle=auth.throttle,
        publisher=auth.publisher,
        policy=auth.policy,
        clock=auth.now,
    )


@router.get("/me/usage", responses=ERRORS)
async def my_usage(
    session: CurrentSession,
    auth: AuthDep,
    since: Day | None = None,
    until: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageOut:
    lines = await usage.usage(user_id=str(session.user.id), since=since, until=until, limit=limit, auth=auth)
    return usage_out(lines)


@router.get("/keys", responses=ERRORS)
async def list_keys(session: CurrentSession, auth: AuthDep) -> ApiKeysOut:
    keys = await services.list_api_keys(session.user.id, accounts=auth.accounts)
    return ApiKeysOut(keys=[api_key_out(k) for k in keys])


@router.post("/keys", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **_WRONG_PASSWORDS})
async def create_key(body: ApiKeyIn, session: CurrentSession, auth: AuthDep) -> ApiKeyCreated:
    """Creates an API key; its secret (`key`) is in this answer only. Asks for the account's
    `password`, unless the session signed in within the last five minutes (401 otherwise)."""
    key, secret = await services.create_api_key(
        session.user,
        session.claims,
        body.name,
        password=body.password,
        accounts=auth.accounts,
        hasher=auth.hasher,
        throttle=auth.throttle,
        policy=auth.policy,
        clock=auth.now,
    )
    return ApiKeyCreated(**api_key_out(key).model_dump(), key=secret)


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**ERRORS, 404: {}})
async def revoke_key(key_id: uuid.UUID, session: CurrentSession, auth: AuthDep) -> None:
    await services.revoke_api_key(session.user.id, key_id, accounts=auth.accounts, clock=auth.now)
