"""Use cases of the auth service: accounts, sessions, API keys, admin.

Usage and quotas are in `usage.py`. Each use case opens its own transaction,
so that what must stay (a revoked family on refresh reuse) is committed
before the error is raised.
"""

from __future__ import annotations

import hashlib
import hmac
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
from parley_auth.domain.accounts import (
    Role,
    check_email_scripts,
    check_password,
    initial_role,
    normalize_email,
    skeleton,
)
from parley_auth.domain.errors import (
    AccountDisabled,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    PolicyViolation,
)
from parley_contracts import UserRegistered

log = logging.getLogger(__name__)

API_KEY_PREFIX = "pk_"
_SHOWN_LENGTH = 10
"""How much of a key its owner's list shows (`pk_` and 7 more): also its throttling bucket."""


def secret_hash(secret: str) -> str:
    """Refresh tokens and API keys are 256-bit random: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


async def register(
    email: str,
    display_name: str,
    password: str,
    *,
    address: str,
    bootstrap_token: str | None = None,
    auth: Auth,
) -> UserRow:
    """A new account. A taken address is refused before any hashing, so that a flood of
    registrations costs no memory; the hashing itself waits its turn (`BoundedHasher`)."""
    auth.registrations.admit(address)
    email_norm = normalize_email(email)
    check_email_scripts(email_norm)
    check_password(password, email=email, min_length=auth.settings.password_min_length)
    async with auth.db.transaction() as repo:
        await _check_email_free(repo, email_norm)
    password_hash = await auth.hasher.hash(password)
    async with auth.registering, auth.db.transaction() as repo:
        await repo.lock_registrations()
        await _check_email_free(repo, email_norm)
        role = initial_role(
            email,
            dev=auth.settings.dev,
            first_account=await repo.count_users() == 0,
            admin_email=auth.settings.admin_email,
            bootstrapped=await _bootstrapped(repo, email_norm, bootstrap_token, auth=auth),
        )
        now = auth.now()
        user = UserRow(
            email=email.strip(), email_norm=email_norm, email_skeleton=skeleton(email_norm),
            display_name=display_name.strip(), password_hash=password_hash, role=role.value,
            disabled=False, preferences={}, created_at=now, updated_at=now,
        )  # fmt: skip
        await repo.add_user(user)
    auth.metrics.registrations.inc()
    if role is Role.ADMIN:
        log.warning("account %s registered as admin", user.id)
    event = UserRegistered(user_id=str(user.id), email=user.email, display_name=user.display_name)
    try:
        await auth.publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("user.registered for %s not published: %s", user.id, exc)
    return user


async def _check_email_free(repo: Repository, email_norm: str) -> None:
    if await repo.user_by_email(email_norm) is not None:
        raise Conflict("an account with this email exists")
    if await repo.user_by_skeleton(skeleton(email_norm)) is not None:
        raise PolicyViolation("the email address looks like an existing account's", field="email")


async def _bootstrapped(repo: Repository, email_norm: str, token: str | None, *, auth: Auth) -> bool:
    """Whether this registration presents the operator's bootstrap token while it is still
    good (no enabled admin yet; with `PARLEY_ADMIN_EMAIL`, for that address only); a token presented
    that is not good is refused rather than ignored."""
    if token is None:
        return False
    expected = auth.settings.bootstrap_token
    good = (
        expected is not None
        and hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
        and (auth.settings.admin_email is None or normalize_email(auth.settings.admin_email) == email_norm)
    )
    if not good or await repo.count_admins() > 0:
        raise Forbidden("the bootstrap token is wrong, or an admin exists already")
    return True


async def grant_admin(email: str, *, auth: Auth) -> UserRow:
    """Make an existing account admin (`python -m parley_auth grant-admin EMAIL`): the
    operator's way to an admin, with access to the service's settings and database. Nothing
    is announced: the account's tokens from its next sign-in or refresh carry the role."""
    async with auth.db.transaction() as repo:
        user = await repo.user_by_email(normalize_email(email))
        if user is None:
            raise NotFound(f"no account has the email {email}")
        was_role, now = user.role, auth.now()
        user.role = Role.ADMIN.value
        user.updated_at = now
        access.mark_changed(user, was_disabled=user.disabled, was_role=was_role, now=now)
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
        auth.throttle.succeeded(account, address)
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
            owner = await repo.user(row.user_id)
            if owner is not None:
                access.mark_session_ended(owner, now=now)
        else:
            user = await repo.user(row.user_id)
            if user is None or user.disabled:
                await repo.revoke_families(now, user_id=row.user_id)
                raise InvalidToken("the account is disabled")
            tokens = await _new_session(repo, user, auth=auth, family=row.family_id)
    if reused:
        log.warning("refresh token reuse: family %s revoked", row.family_id)
        if owner is not None:
            await access.announce(owner, auth=auth)
        auth.metrics.refreshes.labels("reused").inc()
        raise InvalidToken("the refresh token was already used; the session is revoked")
    auth.metrics.refreshes.labels("ok").inc()
    return tokens


async def logout(claims: AccessClaims | None, refresh_token: str | None, *, auth: Auth) -> None:
    """Revoke the session named by the access token's `sid` and/or the refresh cookie; a caller
    who names no session (no valid token, no known cookie) is refused. Every service that
    verifies access tokens learns that the session ended (`user.access_changed`), so its
    access tokens stop working everywhere within seconds, not when they expire."""
    ended: set[uuid.UUID] = set()
    async with auth.db.transaction() as repo:
        now = auth.now()
        if claims is not None and claims.sid is not None:
            user_id = uuid.UUID(claims.sub)
            await repo.revoke_families(now, family_id=_uuid(claims.sid), user_id=user_id)
            ended.add(user_id)
        if refresh_token:
            row = await repo.refresh_by_hash(secret_hash(refresh_token))
            if row is not None:
                await repo.revoke_families(now, family_id=row.family_id)
                ended.add(row.user_id)
        users = [user for user_id in ended if (user := await repo.user(user_id)) is not None]
        for user in users:
            access.mark_session_ended(user, now=now)
    if not ended:
        raise InvalidToken("no session to end: neither a valid access token nor a refresh cookie")
    for user in users:
        await access.announce(user, auth=auth)


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
    """The user of a valid access token. Refused at once here: a disabled account's token, one
    issued before the account's last disable or password change, and an ended session's."""
    claims = auth.keys.verify(token, auth.now())
    async with auth.db.transaction() as repo:
        user = await repo.user(_uuid(claims.sub))
        ended = claims.sid is not None and await repo.session_ended(_uuid(claims.sid))
    if user is None:
        raise InvalidToken("unknown user")
    if user.disabled:
        raise AccountDisabled("this account is disabled")
    cutoff = user.tokens_not_before
    if cutoff is not None and claims.iat < cutoff.timestamp():
        raise InvalidToken("the token was issued before the account's access changed; sign in again")
    if ended:
        raise InvalidToken("the session has ended; sign in again")
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
    """Change the password. Every other session (refresh family) is revoked, every access
    token issued before now stops counting everywhere (this session refreshes its own), and
    the account's API keys are revoked: whoever had stolen a token or a key loses it."""
    async with auth.db.transaction() as repo:
        user = await repo.user(user_id)
        if user is None:
            raise NotFound("user not found")
        await _confirm_password(user, current, wrong="the current password is wrong", auth=auth)
        check_password(new, email=user.email, min_length=auth.settings.password_min_length)
        user.password_hash = await auth.hasher.hash(new)
        now = auth.now()
        user.updated_at = now
        keep = _uuid(claims.sid) if claims.sid is not None else None
        await repo.revoke_families(now, user_id=user.id, except_family=keep)
        await repo.revoke_api_keys(user.id, now)
        access.cut_tokens(user, now=now)
    await access.announce(user, auth=auth)


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
                await repo.revoke_api_keys(user.id, now)
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


async def create_api_key(
    user: UserRow, claims: AccessClaims, name: str, *, password: str | None, auth: Auth
) -> tuple[ApiKeyRow, str]:
    """A new API key, for whoever proves to be the account's owner now: with the password, or
    within minutes of signing in. A key outlives its access token, so a stolen token alone
    must not turn into one."""
    if password is not None:
        await _confirm_password(user, password, wrong="the password is wrong", auth=auth)
    elif not await _signed_in_lately(claims, auth=auth):
        raise InvalidCredentials("confirm your password to create an API key")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        user_id=user.id,
        name=name.strip(),
        prefix=secret[:_SHOWN_LENGTH],
        secret_hash=secret_hash(secret),
        created_at=auth.now(),
    )
    async with auth.db.transaction() as repo:
        await repo.add_api_key(row)
    return row, secret


async def _confirm_password(user: UserRow, password: str, *, wrong: str, auth: Auth) -> None:
    """`InvalidCredentials` unless `password` is the account's; `Throttled` after too many wrong."""
    key = str(user.id)
    auth.throttle.confirmations.check(key)
    if not await auth.hasher.verify(user.password_hash, password):
        auth.throttle.confirmations.fail(key)
        raise InvalidCredentials(wrong)
    auth.throttle.confirmations.clear(key)


async def _signed_in_lately(claims: AccessClaims, *, auth: Auth) -> bool:
    if claims.sid is None:  # a token from an API key: never
        return False
    async with auth.db.transaction() as repo:
        started = await repo.session_started(_uuid(claims.sid))
    return started is not None and auth.now() - started <= timedelta(
        seconds=auth.settings.key_fresh_sign_in_s
    )


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
    Failed exchanges count against the address and the key's prefix (not against logins)."""
    prefix = secret[:_SHOWN_LENGTH]
    auth.key_throttle.check(prefix, address)
    async with auth.db.transaction() as repo:
        row = await repo.api_key_by_hash(secret_hash(secret)) if secret.startswith(API_KEY_PREFIX) else None
        user = await repo.user(row.user_id) if row is not None else None
        if row is None or user is None:
            auth.key_throttle.failed(prefix, address)
            raise InvalidCredentials("invalid API key")
        if user.disabled:
            raise AccountDisabled("this account is disabled")
        now = auth.now()
        row.last_used_at = now
        access = auth.keys.issue(sub=str(user.id), role=user.role, now=now)
    return Tokens(access, auth.settings.access_ttl_s)
