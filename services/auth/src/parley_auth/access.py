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

from parley_auth.adapters.orm import UserRow
from parley_auth.adapters.rabbit import BrokerUnavailable
from parley_auth.bootstrap import Auth
from parley_auth.domain.accounts import Role
from parley_contracts import UserAccessChanged
from parley_contracts.access import RecentAccessChanges

log = logging.getLogger(__name__)

_MARGIN_S = 60
"""Beyond the access-token lifetime: the verifiers' clock leeway, and slack for clock skew."""


def mark_changed(user: UserRow, *, was_disabled: bool, was_role: str, now: datetime) -> bool:
    """Date the account's access change, if there was one; True when there was."""
    if user.disabled == was_disabled and user.role == was_role:
        return False
    user.access_changed_at = now
    if user.disabled and not was_disabled:
        user.tokens_not_before = now
    return True


def cut_tokens(user: UserRow, *, now: datetime) -> None:
    """Every access token of the account issued before now stops counting (a new password);
    one refreshed right after counts (`iat` has microseconds)."""
    user.access_changed_at = now
    user.tokens_not_before = now


def mark_session_ended(user: UserRow, *, now: datetime) -> None:
    user.access_changed_at = now


def event_of(user: UserRow, *, sessions_ended: Sequence[str], auth: Auth) -> UserAccessChanged:
    changed_at = user.access_changed_at or auth.now()
    return UserAccessChanged(
        user_id=str(user.id),
        disabled=user.disabled,
        role=Role(user.role).value,
        tokens_not_before=user.tokens_not_before,
        sessions_ended=tuple(sorted(sessions_ended)),
        occurred_at=changed_at,
        relevant_until=changed_at + _lifetime(auth),
    )


async def announce(user: UserRow, *, auth: Auth) -> None:
    async with auth.db.transaction() as repo:
        ended = await repo.sessions_ended_since(auth.now() - _lifetime(auth), user_ids=[user.id])
    event = event_of(user, sessions_ended=ended.get(user.id, ()), auth=auth)
    try:
        await auth.publisher.publish(event)
    except BrokerUnavailable as exc:
        log.warning("user.access_changed for %s not published: %s", user.id, exc)
        return
    log.info(
        "user %s: access changed (disabled %s, role %s, %d session(s) ended lately)",
        user.id,
        event.disabled,
        event.role,
        len(event.sessions_ended),
    )


async def recent(*, auth: Auth) -> RecentAccessChanges:
    """The latest change of every account changed within one access-token lifetime."""
    since = auth.now() - _lifetime(auth)
    async with auth.db.transaction() as repo:
        users = await repo.users_access_changed_since(since)
        ended = await repo.sessions_ended_since(since, user_ids=[user.id for user in users])
    return RecentAccessChanges(
        changes=tuple(event_of(u, sessions_ended=ended.get(u.id, ()), auth=auth) for u in users)
    )


def _lifetime(auth: Auth) -> timedelta:
    return timedelta(seconds=auth.settings.access_ttl_s + _MARGIN_S)
