"""An account's own profile and password, and the admins' view and changes of accounts."""

from __future__ import annotations

import uuid
from typing import Any

from parley_auth import access
from parley_auth.domain.access import cut_tokens, mark_changed
from parley_auth.domain.accounts import AccountPolicy, Role, check_password
from parley_auth.domain.errors import Conflict, Forbidden, InvalidCredentials, NotFound
from parley_auth.domain.model import AccessClaims, Account
from parley_auth.domain.throttle import LoginThrottle
from parley_auth.ports import AccountStore, EventPublisher, Now, PasswordHasher
from parley_auth.services.sessions import token_uuid


async def update_profile(
    user_id: uuid.UUID,
    *,
    display_name: str | None,
    preferences: dict[str, Any] | None,
    accounts: AccountStore,
    clock: Now,
) -> Account:
    async with accounts.transaction() as records:
        account = await records.get(user_id)
        if account is None:
            raise NotFound("user not found")
        if display_name is not None:
            account.display_name = display_name.strip()
        if preferences:
            account.preferences = {**account.preferences, **preferences}
        account.updated_at = clock()
        await records.save(account)
    return account


async def confirm_password(
    account: Account, password: str, *, wrong: str, hasher: PasswordHasher, throttle: LoginThrottle
) -> None:
    """`InvalidCredentials` unless `password` is the account's; `Throttled` after too many wrong."""
    key = str(account.id)
    throttle.confirmations.check(key)
    if not await hasher.verify(account.password_hash, password):
        throttle.confirmations.fail(key)
        raise InvalidCredentials(wrong)
    throttle.confirmations.clear(key)


async def change_password(
    user_id: uuid.UUID,
    claims: AccessClaims,
    current: str,
    new: str,
    *,
    accounts: AccountStore,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    publisher: EventPublisher,
    policy: AccountPolicy,
    clock: Now,
) -> None:
    """Change the password. Every other session (refresh family) is revoked, every access
    token issued before now stops counting everywhere (this session refreshes its own), and
    the account's API keys are revoked: whoever had stolen a token or a key loses it."""
    async with accounts.transaction() as records:
        account = await records.get(user_id)
        if account is None:
            raise NotFound("user not found")
        await confirm_password(
            account, current, wrong="the current password is wrong", hasher=hasher, throttle=throttle
        )
        check_password(new, email=account.email, min_length=policy.password_min_length)
        account.password_hash = await hasher.hash(new)
        now = clock()
        account.updated_at = now
        keep = token_uuid(claims.sid) if claims.sid is not None else None
        await records.revoke_sessions(now, user_id=account.id, except_family=keep)
        await records.revoke_api_keys(account.id, now)
        cut_tokens(account, now=now)
        await records.save(account)
    await access.announce(
        account, accounts=accounts, publisher=publisher, clock=clock, access_ttl_s=policy.access_ttl_s
    )


async def list_users(
    query: str | None, limit: int, offset: int, *, accounts: AccountStore
) -> tuple[list[Account], int]:
    async with accounts.transaction() as records:
        return await records.search(query=query, limit=limit, offset=offset)


async def admin_update_user(
    admin_id: uuid.UUID,
    target_id: uuid.UUID,
    *,
    role: Role | None,
    disabled: bool | None,
    budget_tokens: int | None,
    clear_budget: bool,
    accounts: AccountStore,
    publisher: EventPublisher,
    policy: AccountPolicy,
    clock: Now,
) -> Account:
    if target_id == admin_id and (disabled or role == Role.USER):
        raise Conflict("an admin cannot disable or demote their own account")
    async with accounts.transaction() as records:
        account = await records.get(target_id)
        if account is None:
            raise NotFound("user not found")
        now = clock()
        was_disabled, was_role = account.disabled, account.role
        if role is not None:
            account.role = role
        if disabled is not None:
            account.disabled = disabled
            if disabled:
                await records.revoke_sessions(now, user_id=account.id)
                await records.revoke_api_keys(account.id, now)
        if clear_budget:
            account.budget_tokens = None
        elif budget_tokens is not None:
            account.budget_tokens = budget_tokens
        account.updated_at = now
        access_changed = mark_changed(account, was_disabled=was_disabled, was_role=was_role, now=now)
        await records.save(account)
    if access_changed:
        await access.announce(
            account, accounts=accounts, publisher=publisher, clock=clock, access_ttl_s=policy.access_ttl_s
        )
    return account


def require_admin(account: Account) -> None:
    if account.role is not Role.ADMIN:
        raise Forbidden("admins only")
