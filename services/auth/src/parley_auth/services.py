"""Use cases of the auth service: accounts, sessions, API keys, admin.

Usage and quotas are in `usage.py`. Each use case opens its own transaction,
so that what must stay (a revoked family on refresh reuse) is committed
before the error is raised.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from parley_auth import access
from parley_auth.adapters.keys import AccessClaims
from parley_auth.adapters.orm import ApiKeyRow, RefreshTokenRow, UserRow
from parley_auth.adapters.rabbit import BrokerUnavailable
from parley_auth.adapters.repository import Repository
from parley_auth.bootstrap import Auth
from parley_auth.domain.accounts import Role, check_password, initial_role, normalize_email
from parley_auth.domain.errors import (
    AccountDisabled,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    NotFound,
)
from parley_contracts import UserRegistered

log = logging.getLogger(__name__)

API_KEY_PREFIX = "pk_"


def secret_hash(secret: str) -> str:
    """Refresh tokens and API keys are 256-bit random: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


async def register(email: str, display_name: str, password: str, *, auth: Auth) -> UserRow:
    check_password(password, email=email, min_length=auth.settings.password_min_length)
    password_hash = await auth.hasher.hash(password)
    email_norm = normalize_email(email)
    async with auth.db.transaction() as repo:
        if await repo.user_by_email(email_norm) is not None:
            raise Conflict("an account with this email exists")
        now = auth.now()
        role = initial_role(
            email, admin_email=auth.settings.admin_email, first_account=await repo.count_users() == 0
        )
        user = UserRow(
            email=email.strip(), email_norm=email_norm, display_name=display_name.strip(),
            password_hash=password_hash, role=role.value, disabled=False, preferences={},
            created_at=now, updated_at=now,
        )  # fmt: skip
        await repo.add_user(user)
    auth.metrics.registrations.inc()
    event = UserRegistered(user_id=str(user.id), email=user.email, display_name=user.display_name)
    try:
        await auth.publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("user.registered for %s not published: %s", user.id, exc)
    return user


async def _new_session(repo: Repository, user: UserRow, *, auth: Auth, family: uuid.UUID | None) -> Tokens:
    now = auth.now()
    family_id = family or uuid.uuid4()
    refresh = secrets.token_urlsafe(32)
    ttl = auth.settings.refresh_ttl_s
    await repo.add_refresh(
        RefreshTokenRow(
            family_id=family_id, user_id=user.id, token_hash=secret_hash(refresh),
            created_at=now, expires_at=now + timedelta(seconds=ttl),
        )
    )  # fmt: skip
    access = auth.keys.issue(sub=str(user.id), role=user.role, now=now, sid=str(family_id))
    return Tokens(access, auth.settings.access_ttl_s, refresh, ttl)


async def login(email: str, password: str, address: str, *, auth: Auth) -> Tokens:
    account = normalize_email(email)
    auth.throttle.check(account, address)
    async with auth.db.transaction() as repo:
        user = await repo.user_by_email(account)
        ok = await auth.hasher.verify(user.password_hash if user else None, password)
        if user is None or not ok:
            auth.throttle.failed(account, address)
            auth.metrics.logins.labels("failed").inc()
            raise InvalidCredentials("wrong email or password")
        auth.throttle.succeeded(account)
        if user.disabled:
            auth.metrics.logins.labels("disabled").inc()
            raise AccountDisabled("this account is disabled")
        if auth.hasher.needs_rehash(user.password_hash):
            user.password_hash = await auth.hasher.hash(password)
        tokens = await _new_session(repo, user, auth=auth, family=None)
    auth.metrics.logins.labels("ok").inc()
    return tokens


async def refresh(token: str | None, *, auth: Auth) -> Tokens:
    if not token:
        raise InvalidToken("no refresh token")
    reused = False
    async with auth.db.transaction() as repo:
        now = auth.now()
        row = await repo.refresh_by_hash(secret_hash(token))
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            auth.metrics.refreshes.labels("invalid").inc()
            raise InvalidToken("the refresh token is invalid or expired")
        if row.used_at is not None or not await repo.spend_refresh(row.id, now):
            # A spent token came back: whoever holds the family may be a thief. End it.
            await repo.revoke_families(now, family_id=row.family_id)
            reused = True
        else:
            user = await repo.user(row.user_id)
            if user is None or user.disabled:
                await repo.revoke_families(now, user_id=row.user_id)
                raise InvalidToken("the account is disabled")
            tokens = await _new_session(repo, user, auth=auth, family=row.family_id)
    if reused:
        log.warning("refresh token reuse: family %s revoked", row.family_id)
        auth.metrics.refreshes.labels("reused").inc()
        raise InvalidToken("the refresh token was already used; the session is revoked")
    auth.metrics.refreshes.labels("ok").inc()
    return tokens


async def logout(claims: AccessClaims | None, refresh_token: str | None, *, auth: Auth) -> None:
    """Revoke the session named by the access token's `sid` and/or the refresh cookie; a caller
    who names no session (no valid token, no known cookie) is refused."""
    named = False
    async with auth.db.transaction() as repo:
        now = auth.now()
        if claims is not None and claims.sid is not None:
            await repo.revoke_families(now, family_id=_uuid(claims.sid), user_id=uuid.UUID(claims.sub))
            named = True
        if refresh_token:
            row = await repo.refresh_by_hash(secret_hash(refresh_token))
            if row is not None:
                await repo.revoke_families(now, family_id=row.family_id)
                named = True
    if not named:
        raise InvalidToken("no session to end: neither a valid access token nor a refresh cookie")


def optional_claims(authorization: str | None, *, auth: Auth) -> AccessClaims | None:
    """The claims of a `Bearer` access token when there is a valid one, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return auth.keys.verify(token.strip(), auth.now())
    except InvalidToken:
        return None


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidToken("token subject malformed") from exc


async def authenticate(token: str, *, auth: Auth) -> tuple[UserRow, AccessClaims]:
    """The user of a valid access token; disabled users are refused at once here."""
    claims = auth.keys.verify(token, auth.now())
    async with auth.db.transaction() as repo:
        user = await repo.user(_uuid(claims.sub))
    if user is None:
        raise InvalidToken("unknown user")
    if user.disabled:
        raise AccountDisabled("this account is disabled")
    return user, claims


async def update_profile(
    user_id: uuid.UUID, *, display_name: str | None, preferences: dict[str, Any] | None, auth: Auth
) -> UserRow:
    async with auth.db.transaction() as repo:
        user = await repo.user(user_id)
        if user is None:
            raise NotFound("user not found")
        if display_name is not None:
            user.display_name = display_name.strip()
        if preferences:
            user.preferences = {**(user.preferences or {}), **preferences}
        user.updated_at = auth.now()
    return user


async def change_password(
    user_id: uuid.UUID, claims: AccessClaims, current: str, new: str, *, auth: Auth
) -> None:
    """Change the password; every other session (refresh family) is revoked."""
    async with auth.db.transaction() as repo:
        user = await repo.user(user_id)
        if user is None:
            raise NotFound("user not found")
        if not await auth.hasher.verify(user.password_hash, current):
            raise InvalidCredentials("the current password is wrong")
        check_password(new, email=user.email, min_length=auth.settings.password_min_length)
        user.password_hash = await auth.hasher.hash(new)
        now = auth.now()
        user.updated_at = now
        keep = _uuid(claims.sid) if claims.sid is not None else None
        await repo.revoke_families(now, user_id=user.id, except_family=keep)


async def list_users(
    query: str | None, limit: int, offset: int, *, auth: Auth
) -> tuple[Sequence[UserRow], int]:
    async with auth.db.transaction() as repo:
        return await repo.users(query=query, limit=limit, offset=offset)


async def admin_update_user(
    admin: UserRow,
    target_id: uuid.UUID,
    *,
    role: Role | None,
    disabled: bool | None,
    budget_tokens: int | None,
    clear_budget: bool,
    auth: Auth,
) -> UserRow:
    if target_id == admin.id and (disabled or role == Role.USER):
        raise Conflict("an admin cannot disable or demote their own account")
    async with auth.db.transaction() as repo:
        user = await repo.user(target_id)
        if user is None:
            raise NotFound("user not found")
        now = auth.now()
        was_disabled, was_role = user.disabled, user.role
        if role is not None:
            user.role = role.value
        if disabled is not None:
            user.disabled = disabled
            if disabled:
                await repo.revoke_families(now, user_id=user.id)
        if clear_budget:
            user.budget_tokens = None
        elif budget_tokens is not None:
            user.budget_tokens = budget_tokens
        user.updated_at = now
        access_changed = access.mark_changed(user, was_disabled=was_disabled, was_role=was_role, now=now)
    if access_changed:
        await access.announce(user, auth=auth)
    return user


def require_admin(user: UserRow) -> None:
    if user.role != Role.ADMIN:
        raise Forbidden("admins only")


async def create_api_key(user_id: uuid.UUID, name: str, *, auth: Auth) -> tuple[ApiKeyRow, str]:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        user_id=user_id,
        name=name.strip(),
        prefix=secret[:10],
        secret_hash=secret_hash(secret),
        created_at=auth.now(),
    )
    async with auth.db.transaction() as repo:
        await repo.add_api_key(row)
    return row, secret


async def list_api_keys(user_id: uuid.UUID, *, auth: Auth) -> Sequence[ApiKeyRow]:
    async with auth.db.transaction() as repo:
        return await repo.api_keys(user_id)


async def revoke_api_key(user_id: uuid.UUID, key_id: uuid.UUID, *, auth: Auth) -> None:
    async with auth.db.transaction() as repo:
        row = await repo.api_key(user_id, key_id)
        if row is None:
            raise NotFound("API key not found")
        row.revoked_at = auth.now()


async def exchange_api_key(secret: str, address: str, *, auth: Auth) -> Tokens:
    """An access token (no refresh token: the key is the long-lived credential).
    Failed exchanges count against the address like failed logins."""
    auth.throttle.addresses.check(address)
    async with auth.db.transaction() as repo:
        row = await repo.api_key_by_hash(secret_hash(secret)) if secret.startswith(API_KEY_PREFIX) else None
        user = await repo.user(row.user_id) if row is not None else None
        if row is None or user is None:
            auth.throttle.addresses.fail(address)
            raise InvalidCredentials("invalid API key")
        if user.disabled:
            raise AccountDisabled("this account is disabled")
        now = auth.now()
        row.last_used_at = now
        access = auth.keys.issue(sub=str(user.id), role=user.role, now=now)
    return Tokens(access, auth.settings.access_ttl_s)
