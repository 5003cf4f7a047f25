"""Account access changes: what an admin's disable, enable or role change, and an owner's
sign-out or new password, tell the services that verify access tokens locally (gateways,
history), so that they refuse a disabled user's tokens, an ended session's, those issued
before a new password, and a demoted admin's admin rights, at once rather than when the
tokens expire.

`user.access_changed` is published after the change has committed (best effort: a
failed publish is logged; this service itself refuses the user at once either way).
A gateway that starts later asks `access.requests` and gets every change of the last
access-token lifetime: older changes cannot matter, their tokens have expired.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from parley_auth.domain.model import Account
from parley_auth.ports import AccountStore, BrokerUnavailable, EventPublisher, Now
from parley_contracts import UserAccessChanged
from parley_contracts.access import RecentAccessChanges

log = logging.getLogger(__name__)

_MARGIN_S = 60
"""Beyond the access-token lifetime: the verifiers' clock leeway, and slack for clock skew."""


def event_of(
    account: Account, *, sessions_ended: Sequence[str], now: datetime, access_ttl_s: int
) -> UserAccessChanged:
    changed_at = account.access_changed_at or now
    return UserAccessChanged(
        user_id=str(account.id),
        disabled=account.disabled,
        role=account.role.value,
        tokens_not_before=account.tokens_not_before,
        sessions_ended=tuple(sorted(sessions_ended)),
        occurred_at=changed_at,
        relevant_until=changed_at + _lifetime(access_ttl_s),
    )


async def announce(
    account: Account, *, accounts: AccountStore, publisher: EventPublisher, clock: Now, access_ttl_s: int
) -> None:
    async with accounts.transaction() as records:
        since = clock() - _lifetime(access_ttl_s)
        ended = await records.sessions_ended_since(since, user_ids=[account.id])
    event = event_of(
        account, sessions_ended=ended.get(account.id, ()), now=clock(), access_ttl_s=access_ttl_s
    )
    try:
        await publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("user.access_changed for %s not published: %s", account.id, exc)
        return
    log.info(
        "user %s: access changed (disabled %s, role %s, %d session(s) ended lately)",
        account.id,
        event.disabled,
        event.role,
        len(event.sessions_ended),
    )


async def recent(*, accounts: AccountStore, clock: Now, access_ttl_s: int) -> RecentAccessChanges:
    """The latest change of every account changed within one access-token lifetime."""
    since = clock() - _lifetime(access_ttl_s)
    async with accounts.transaction() as records:
        changed = await records.access_changed_since(since)
        ended = await records.sessions_ended_since(since, user_ids=[a.id for a in changed])
    now = clock()
    return RecentAccessChanges(
        changes=tuple(
            event_of(a, sessions_ended=ended.get(a.id, ()), now=now, access_ttl_s=access_ttl_s)
            for a in changed
        )
    )


def _lifetime(access_ttl_s: int) -> timedelta:
    return timedelta(seconds=access_ttl_s + _MARGIN_S)
