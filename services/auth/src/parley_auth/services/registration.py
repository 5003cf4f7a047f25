"""Registration, and the operator's way to an admin (`grant-admin`)."""

from __future__ import annotations

import hmac
import logging

from parley_auth.domain.access import mark_changed
from parley_auth.domain.accounts import (
    AccountPolicy,
    Role,
    check_email_scripts,
    check_password,
    initial_role,
    normalize_email,
    skeleton,
)
from parley_auth.domain.errors import Conflict, Forbidden, NotFound, PolicyViolation
from parley_auth.domain.model import Account
from parley_auth.domain.throttle import RegistrationThrottle
from parley_auth.ports import (
    AccountMetrics,
    Accounts,
    AccountStore,
    BrokerUnavailable,
    EventPublisher,
    Now,
    PasswordHasher,
)
from parley_contracts import UserRegistered, new_id

log = logging.getLogger(__name__)


async def register(
    email: str,
    display_name: str,
    password: str,
    *,
    address: str,
    bootstrap_token: str | None = None,
    accounts: AccountStore,
    hasher: PasswordHasher,
    throttle: RegistrationThrottle,
    publisher: EventPublisher,
    policy: AccountPolicy,
    clock: Now,
    metrics: AccountMetrics,
) -> Account:
    """A new account. A taken address is refused before any hashing, so that a flood of
    registrations costs no memory; the hashing itself waits its turn (`BoundedHasher`)."""
    throttle.admit(address)
    email_norm = normalize_email(email)
    check_email_scripts(email_norm)
    check_password(password, email=email, min_length=policy.password_min_length)
    async with accounts.transaction() as records:
        await _check_email_free(records, email_norm)
    password_hash = await hasher.hash(password)
    async with accounts.registration() as records:
        await _check_email_free(records, email_norm)
        role = initial_role(
            email,
            dev=policy.dev,
            first_account=await records.count() == 0,
            admin_email=policy.admin_email,
            bootstrapped=await _bootstrapped(records, email_norm, bootstrap_token, policy=policy),
        )
        now = clock()
        account = Account(
            id=new_id(), email=email.strip(), email_norm=email_norm, display_name=display_name.strip(),
            password_hash=password_hash, role=role, created_at=now, updated_at=now,
        )  # fmt: skip
        await records.add(account)
    metrics.registrations.inc()
    if role is Role.ADMIN:
        log.warning("account %s registered as admin", account.id)
    event = UserRegistered(user_id=str(account.id), email=account.email, display_name=account.display_name)
    try:
        await publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("user.registered for %s not published: %s", account.id, exc)
    return account


async def _check_email_free(records: Accounts, email_norm: str) -> None:
    if await records.by_email(email_norm) is not None:
        raise Conflict("an account with this email exists")
    if await records.by_skeleton(skeleton(email_norm)) is not None:
        raise PolicyViolation("the email address looks like an existing account's", field="email")


async def _bootstrapped(
    records: Accounts, email_norm: str, token: str | None, *, policy: AccountPolicy
) -> bool:
    """Whether this registration presents the operator's bootstrap token while it is still
    good (no enabled admin yet; with `PARLEY_ADMIN_EMAIL`, for that address only); a token presented
    that is not good is refused rather than ignored."""
    if token is None:
        return False
    expected = policy.bootstrap_token
    good = (
        expected is not None
        and hmac.compare_digest(token.encode(), expected.encode())
        and (policy.admin_email is None or normalize_email(policy.admin_email) == email_norm)
    )
    if not good or await records.count_admins() > 0:
        raise Forbidden("the bootstrap token is wrong, or an admin exists already")
    return True


async def grant_admin(email: str, *, accounts: AccountStore, clock: Now) -> Account:
    """Make an existing account admin (`python -m parley_auth grant-admin EMAIL`): the
    operator's way to an admin, with access to the service's settings and database. Nothing
    is announced: the account's tokens from its next sign-in or refresh carry the role."""
    async with accounts.transaction() as records:
        account = await records.by_email(normalize_email(email))
        if account is None:
            raise NotFound(f"no account has the email {email}")
        was_role, now = account.role, clock()
        account.role = Role.ADMIN
        account.updated_at = now
        mark_changed(account, was_disabled=account.disabled, was_role=was_role, now=now)
        await records.save(account)
    return account
