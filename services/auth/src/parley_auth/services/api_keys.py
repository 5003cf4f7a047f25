"""API keys: created by their owner, listed, revoked, and exchanged for access tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

from parley_auth.domain.accounts import AccountPolicy
from parley_auth.domain.credentials import API_KEY_PREFIX, new_api_key, secret_hash, shown_part
from parley_auth.domain.errors import AccountDisabled, InvalidCredentials, NotFound
from parley_auth.domain.model import AccessClaims, Account, ApiKey, Tokens
from parley_auth.domain.throttle import KeyThrottle, LoginThrottle
from parley_auth.ports import AccountStore, Now, PasswordHasher, TokenIssuer
from parley_auth.services.accounts import confirm_password
from parley_auth.services.sessions import token_uuid
from parley_contracts import new_id


async def create_api_key(
    account: Account,
    claims: AccessClaims,
    name: str,
    *,
    password: str | None,
    accounts: AccountStore,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    policy: AccountPolicy,
    clock: Now,
) -> tuple[ApiKey, str]:
    """A new API key and its secret, for whoever proves to be the account's owner now: with
    the password, or within minutes of signing in. A key outlives its access token, so a
    stolen token alone must not turn into one."""
    if password is not None:
        await confirm_password(
            account, password, wrong="the password is wrong", hasher=hasher, throttle=throttle
        )
    elif not await _signed_in_lately(claims, accounts=accounts, policy=policy, clock=clock):
        raise InvalidCredentials("confirm your password to create an API key")
    secret = new_api_key()
    key = ApiKey(
        id=new_id(), user_id=account.id, name=name.strip(), prefix=shown_part(secret), created_at=clock()
    )
    async with accounts.transaction() as records:
        await records.add_api_key(key, secret_hash=secret_hash(secret))
    return key, secret


async def _signed_in_lately(
    claims: AccessClaims, *, accounts: AccountStore, policy: AccountPolicy, clock: Now
) -> bool:
    if claims.sid is None:  # a token from an API key: never
        return False
    async with accounts.transaction() as records:
        started = await records.session_started(token_uuid(claims.sid))
    return started is not None and clock() - started <= timedelta(seconds=policy.key_fresh_sign_in_s)


async def list_api_keys(user_id: uuid.UUID, *, accounts: AccountStore) -> list[ApiKey]:
    async with accounts.transaction() as records:
        return await records.api_keys(user_id)


async def revoke_api_key(
    user_id: uuid.UUID, key_id: uuid.UUID, *, accounts: AccountStore, clock: Now
) -> None:
    async with accounts.transaction() as records:
        if not await records.revoke_api_key(user_id, key_id, clock()):
            raise NotFound("API key not found")


async def exchange_api_key(
    secret: str,
    address: str,
    *,
    accounts: AccountStore,
    throttle: KeyThrottle,
    issuer: TokenIssuer,
    policy: AccountPolicy,
    clock: Now,
) -> Tokens:
    """An access token (no refresh token: the key is the long-lived credential).
    Failed exchanges count against the address and the key's prefix (not against logins)."""
    prefix = shown_part(secret)
    throttle.check(prefix, address)
    async with accounts.transaction() as records:
        key = (
            await records.api_key_by_hash(secret_hash(secret)) if secret.startswith(API_KEY_PREFIX) else None
        )
        account = await records.get(key.user_id) if key is not None else None
        if key is None or account is None:
            throttle.failed(prefix, address)
            raise InvalidCredentials("invalid API key")
        if account.disabled:
            raise AccountDisabled("this account is disabled")
        now = clock()
        await records.key_used(key.id, now)
        access_token = issuer.issue(sub=str(account.id), role=account.role.value, now=now)
    return Tokens(access_token, policy.access_ttl_s)
