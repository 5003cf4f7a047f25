"""Use cases of account access changes: an admin disabled an account, enabled it again or
changed its role (`user.access_changed`, from auth).

Every gateway process learns each change on a queue of its own, and records it in the
verifier's `AccountAccess` (which refuses the account's tokens from then on, on `/ws` and
on the HTTP routes); the account's open sockets check their token again, and close (4401)
when it no longer counts. A process that starts asks auth for the changes of the last
access-token lifetime (request-reply on `access.requests`), since it keeps nothing on disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from parley_contracts import UserAccessChanged
from parley_contracts.access import ACCESS_REQUESTS, RecentAccessChanges
from parley_gateway.domain.auth import AccountAccess
from parley_platform.broker import RabbitBroker
from parley_platform.inbox import Inbox
from parley_platform.rpc import NoAnswer, ask

log = logging.getLogger(__name__)

ACCESS_CHANGED = UserAccessChanged.model_fields["type"].default


class Sockets(Protocol):
    def on_access_changed(self, user_id: str) -> int:
        """Have the user's sockets check their token again; how many there are."""
        ...


def record_access_change(change: UserAccessChanged, *, access: AccountAccess, sockets: Sockets) -> None:
    if not access.record(change):
        return
    open_sockets = sockets.on_access_changed(change.user_id)
    log.info(
        "user %s: access changed (disabled %s, role %s); %d socket(s) to check",
        change.user_id,
        change.disabled,
        change.role,
        open_sockets,
    )


async def learn_recent_changes(
    broker: RabbitBroker,
    *,
    access: AccountAccess,
    timeout_s: float,
    user_id: str,
    inbox: Inbox[UserAccessChanged],
) -> bool:
    """Ask auth for the access changes that still matter; False when it did not answer (no
    auth on this broker, or it is down: the caller asks again later). `user_id` is this
    gateway's broker user; an answer from another than auth's is not believed."""
    try:
        answer = await ask(broker, ACCESS_REQUESTS, timeout_s=timeout_s, user_id=user_id)
    except NoAnswer:
        return False
    if not inbox.check(ACCESS_CHANGED, sender=answer.sender):
        return False
    recent = RecentAccessChanges.model_validate_json(answer.body)
    kept = sum(access.record(change) for change in recent.changes)
    log.info("learned %d recent access change(s) from auth (%d kept)", len(recent.changes), kept)
    return True


async def keep_asking(learn: Callable[[], Awaitable[bool]], *, interval_s: float) -> None:
    """`learn()` (`learn_recent_changes`) every `interval_s` until auth answers."""
    while True:
        try:
            if await learn():
                return
        except Exception as exc:
            log.warning("asking auth for recent access changes failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(interval_s)
