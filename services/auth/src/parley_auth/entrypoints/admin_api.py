"""`/api/auth/users` and `/api/auth/usage`: admins only."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import Query

from parley_auth import services, usage
from parley_auth.deps import AdminSession, AuthDep
from parley_auth.domain.accounts import Role
from parley_auth.entrypoints.http import ERRORS, Day, api_router, usage_out, user_out
from parley_auth.entrypoints.schemas import AdminUserPatch, UsageOut, UserOut, UsersPage

log = logging.getLogger(__name__)

router = api_router()


@router.get("/users", responses=ERRORS)
async def list_users(
    _admin: AdminSession,
    auth: AuthDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UsersPage:
    """Admins only: users, optionally those whose email or display name contains `q`."""
    accounts, total = await services.list_users(q, limit, offset, accounts=auth.accounts)
    return UsersPage(users=[user_out(a) for a in accounts], total=total)


@router.patch("/users/{user_id}", responses={**ERRORS, 404: {}, 409: {}})
async def update_user(
    user_id: uuid.UUID, body: AdminUserPatch, admin: AdminSession, auth: AuthDep
) -> UserOut:
    """Admins only: role, disabled (revokes the user's sessions at once), token budget."""
    account = await services.admin_update_user(
        admin.user.id,
        user_id,
        role=Role(body.role) if body.role else None,
        disabled=body.disabled,
        budget_tokens=body.budget_tokens,
        clear_budget="budget_tokens" in body.model_fields_set and body.budget_tokens is None,
        accounts=auth.accounts,
        publisher=auth.publisher,
        policy=auth.policy,
        clock=auth.now,
    )
    if "budget_tokens" in body.model_fields_set:
        try:
            await usage.reevaluate(str(account.id), auth=auth)
        except Exception as exc:  # the periodic sweep retries
            log.warning("quota re-evaluation of %s deferred: %s", account.id, exc)
    return user_out(account)


@router.get("/usage", responses=ERRORS)
async def read_usage(
    _admin: AdminSession,
    auth: AuthDep,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Day | None = None,
    until: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageOut:
    """Admins only: the usage ledger per user, model and day."""
    lines = await usage.usage(user_id=user_id, since=since, until=until, limit=limit, auth=auth)
    return usage_out(lines)
