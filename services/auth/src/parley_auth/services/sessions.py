"""Sign-in sessions: login, refresh-token rotation with reuse detection, logout, and the
account behind an access token.

Each use case opens its own transaction, so that what must stay (a revoked family on
refresh reuse) is committed before the error is raised."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from parley_auth import access
from parley_auth.domain.access import mark_session_ended
from parley_auth.domain.accounts import AccountPolicy, normalize_email
from parley_auth.domain.credentials import new_refresh_token, secret_hash
from parley_auth.domain.errors import AccountDisabled, InvalidCredentials, InvalidToken
from parley_auth.domain.model import AccessClaims, Account, RefreshToken, Tokens
from parley_auth.domain.throttle import LoginThrottle
from parley_auth.ports import (
    AccountMetrics,
    Accounts,
    AccountStore,
    EventPublisher,
    Now,
    PasswordHasher,
    TokenIssuer,
    TokenVerifier,
)
from parley_contracts import new_id

log = logging.getLogger(__name__)


async def _new_session(
    records: Accounts,
    account: Account,
    *,
    family: uuid.UUID | None,
    issuer: TokenIssuer,
    policy: AccountPolicy,
    clock: Now,
) -> Tokens:
    now = clock()
    family_id = family or uuid.uuid4()
    refresh_token = new_refresh_token()
    ttl = policy.refresh_ttl_s
    await records.add_refresh(
        RefreshToken(
            id=new_id(), family_id=family_id, user_id=account.id, created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        ),
        token_hash=secret_hash(refresh_token),
    )  # fmt: skip
    access_token = issuer.issue(sub=str(account.id), role=account.role.value, now=now, sid=str(family_id))
    return Tokens(access_token, policy.access_ttl_s, refresh_token, ttl)


async def login(
    email: str,
    password: str,
    address: str,
    *,
    accounts: AccountStore,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    issuer: TokenIssuer,
    policy: AccountPolicy,
    clock: Now,
    metrics: AccountMetrics,
) -> Tokens:
    email_norm = normalize_email(email)
    throttle.check(email_norm, address)
    async with accounts.transaction() as records:
        account = await records.by_email(email_norm)
        ok = await hasher.verify(account.password_hash if account else None, password)
        if account is None or not ok:
            throttle.failed(email_norm, address)
            metrics.logins.labels("failed").inc()
            raise InvalidCredentials("wrong email or password")
        throttle.succeeded(email_norm, address)
        if account.disabled:
            metrics.logins.labels("disabled").inc()
            raise AccountDisabled("this account is disabled")
        if hasher.needs_rehash(account.password_hash):
            account.password_hash = await hasher.hash(password)
            await records.save(account)
        tokens = await _new_session(records, account, family=None, issuer=issuer, policy=policy, clock=clock)
    metrics.logins.labels("ok").inc()
    return tokens


async def refresh(
    token: str | None,
    *,
    accounts: AccountStore,
    issuer: TokenIssuer,
    publisher: EventPublisher,
    policy: AccountPolicy,
    clock: Now,
    metrics: AccountMetrics,
) -> Tokens:
    if not token:
        raise InvalidToken("no refresh token")
    owner: Account | None = None
    reused = disabled = False
    async with accounts.transaction() as records:
        now = clock()
        spent = await records.refresh_by_hash(secret_hash(token))
        if spent is None or spent.revoked_at is not None or spent.expires_at <= now:
            metrics.refreshes.labels("invalid").inc()
            raise InvalidToken("the refresh token is invalid or expired")
        if spent.used_at is not None or not await records.spend_refresh(spent.id, now):
            # A spent token came back: whoever holds the family may be a thief. End it.
            await records.revoke_sessions(now, family_id=spent.family_id)
            reused = True
            owner = await records.get(spent.user_id)
            if owner is not None:
                mark_session_ended(owner, now=now)
                await records.save(owner)
        else:
            account = await records.get(spent.user_id)
            if account is None or account.disabled:
                # Refused once the revocation is committed: raised in here, it would roll back.
                await records.revoke_sessions(now, user_id=spent.user_id)
                disabled = True
            else:
                tokens = await _new_session(
                    records, account, family=spent.family_id, issuer=issuer, policy=policy, clock=clock
                )
    if disabled:
        raise InvalidToken("the account is disabled")
    if reused:
        log.warning("refresh token reuse: family %s revoked", spent.family_id)
        if owner is not None:
            await access.announce(
                owner, accounts=accounts, publisher=publisher, clock=clock, access_ttl_s=policy.access_ttl_s
            )
        metrics.refreshes.labels("reused").inc()
        raise InvalidToken("the refresh token was already used; the session is revoked")
    metrics.refreshes.labels("ok").inc()
    return tokens


async def logout(
    claims: AccessClaims | None,
    refresh_token: str | None,
    *,
    accounts: AccountStore,
    publisher: EventPublisher,
    policy: AccountPolicy,
    clock: Now,
) -> None:
    """Revoke the session named by the access token's `sid` and/or the refresh cookie; a caller
    who names no session (no valid token, no known cookie) is refused. Every service that
    verifies access tokens learns that the session ended (`user.access_changed`), so its
    access tokens stop working everywhere within seconds, not when they expire."""
    ended: set[uuid.UUID] = set()
    async with accounts.transaction() as records:
        now = clock()
        if claims is not None and claims.sid is not None:
            user_id = uuid.UUID(claims.sub)
            await records.revoke_sessions(now, family_id=token_uuid(claims.sid), user_id=user_id)
            ended.add(user_id)
        if refresh_token:
            known = await records.refresh_by_hash(secret_hash(refresh_token))
            if known is not None:
                await records.revoke_sessions(now, family_id=known.family_id)
                ended.add(known.user_id)
        owners = [owner for user_id in ended if (owner := await records.get(user_id)) is not None]
        for owner in owners:
            mark_session_ended(owner, now=now)
            await records.save(owner)
    if not ended:
        raise InvalidToken("no session to end: neither a valid access token nor a refresh cookie")
    for owner in owners:
        await access.announce(
            owner, accounts=accounts, publisher=publisher, clock=clock, access_ttl_s=policy.access_ttl_s
        )


def optional_claims(authorization: str | None, *, verifier: TokenVerifier, clock: Now) -> AccessClaims | None:
    """The claims of a `Bearer` access token when there is a valid one, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return verifier.verify(token.strip(), clock())
    except InvalidToken:
        return None


def token_uuid(value: str) -> uuid.UUID:
    """A token's `sub` or `sid` as the id it names."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidToken("token subject malformed") from exc


async def authenticate(
    token: str, *, verifier: TokenVerifier, accounts: AccountStore, clock: Now
) -> tuple[Account, AccessClaims]:
    """The account of a valid access token. Refused at once here: a disabled account's token, one
    issued before the account's last disable or password change, and an ended session's."""
    claims = verifier.verify(token, clock())
    async with accounts.transaction() as records:
        account = await records.get(token_uuid(claims.sub))
        ended = claims.sid is not None and await records.session_ended(token_uuid(claims.sid))
    if account is None:
        raise InvalidToken("unknown user")
    if account.disabled:
        raise AccountDisabled("this account is disabled")
    cutoff = account.tokens_not_before
    if cutoff is not None and claims.iat < cutoff.timestamp():
        raise InvalidToken("the token was issued before the account's access changed; sign in again")
    if ended:
        raise InvalidToken("the session has ended; sign in again")
    return account, claims
