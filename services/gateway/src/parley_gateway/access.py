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
from typing import Protocol

from faststream.rabbit import RabbitBroker

from parley_contracts import EventDecoder, UnsupportedEvent, UserAccessChanged
from parley_contracts.access import ACCESS_REQUESTS, RecentAccessChanges
from parley_contracts.senders import ForgedEvent, Senders
from parley_gateway.domain.auth import AccountAccess
from parley_platform.rabbit import queue_exists

log = logging.getLogger(__name__)

ACCESS = EventDecoder([UserAccessChanged])
ACCESS_CHANGED = UserAccessChanged.model_fields["type"].default


class Sockets(Protocol):
    def on_access_changed(self, user_id: str) -> int:
        """Have the user's sockets check their token again; how many there are."""
        ...


def record_access_change(
    body: bytes, *, sender: str | None, senders: Senders, access: AccountAccess, sockets: Sockets
) -> None:
    """`sender` is the broker user that published `body`: only auth's is believed."""
    try:
        change = senders.decode(ACCESS, body, sender)
    except ForgedEvent as exc:
        log.error("dropping a forged access change: %s", exc.reason)
        return
    except UnsupportedEvent as exc:
        log.warning("dropping an access change this gateway does not understand: %s", exc.reason)
        return
    assert isinstance(change, UserAccessChanged)
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
    broker: RabbitBroker, *, access: AccountAccess, timeout_s: float, user_id: str, senders: Senders
) -> bool:
    """Ask auth for the access changes that still matter; False when it did not answer (no
    auth on this broker, or it is down: the caller asks again later). `user_id` is this
    gateway's broker user; an answer from another than auth's is not believed."""
    # A request to a queue nobody declared is dropped silently: check first, as workers do.
    if not await queue_exists(await broker.connect(), ACCESS_REQUESTS):
        return False
    try:
        response = await broker.request(b"{}", queue=ACCESS_REQUESTS, timeout=timeout_s, user_id=user_id)
    except TimeoutError:
        return False
    try:
        senders.check(ACCESS_CHANGED, response.raw_message.user_id)
    except ForgedEvent as exc:
        log.error("dropping a forged answer on %s: %s", ACCESS_REQUESTS, exc.reason)
        return False
    recent = RecentAccessChanges.model_validate_json(response.body)
    kept = sum(access.record(change) for change in recent.changes)
    log.info("learned %d recent access change(s) from auth (%d kept)", len(recent.changes), kept)
    return True


async def keep_asking(
    broker: RabbitBroker,
    *,
    access: AccountAccess,
    timeout_s: float,
    interval_s: float,
    user_id: str,
    senders: Senders,
) -> None:
    """`learn_recent_changes` until auth answers."""
    while True:
        try:
            if await learn_recent_changes(
                broker, access=access, timeout_s=timeout_s, user_id=user_id, senders=senders
            ):
                return
        except Exception as exc:
            log.warning("asking auth for recent access changes failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(interval_s)
