"""The session queue's side of a relay: each delivery held by a ticket, in delivery order,
until its frames are sent; decoded, its sender checked; settled exactly once: acked, or
given back to the queue when the socket goes. Also tells when a snapshot answer shows that
another socket resumed the session since this one attached."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import cast
from uuid import UUID

from parley_contracts import SESSION_STREAM_EVENTS, StreamEvent, StreamSnapshots, new_id
from parley_contracts.senders import Senders
from parley_gateway.domain.sessions import is_resync_request
from parley_gateway.ports import Delivery
from parley_platform.inbox import Inbox

log = logging.getLogger(__name__)


class SessionIntake:
    def __init__(
        self,
        session_id: UUID,
        *,
        senders: Senders,
        issued: Callable[[UUID], bool],
        on_superseded: Callable[[], None],
    ) -> None:
        self.session_id = session_id
        self._events = cast(
            "Inbox[StreamEvent | StreamSnapshots]",
            Inbox(*SESSION_STREAM_EVENTS, senders=senders, where=f"session {session_id}", logger=log),
        )
        self._issued = issued
        self._on_superseded = on_superseded
        self._attached = new_id()  # time-ordered: tells earlier resumes from later ones
        self._inbox: asyncio.Queue[int] = asyncio.Queue()
        self._unsettled: dict[int, Delivery] = {}
        self._tickets = itertools.count()
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    def deliver(self, delivery: Delivery) -> None:
        if self._closed:
            self._spawn(self._requeue(delivery))
            return
        ticket = next(self._tickets)
        self._unsettled[ticket] = delivery
        self._inbox.put_nowait(ticket)

    async def next(self) -> int:
        return await self._inbox.get()

    async def take(self, limit: int) -> list[int]:
        """Wait for a ticket, then take those waiting behind it too, `limit` in all at most."""
        inbox = self._inbox
        tickets = [await inbox.get()]
        while not inbox.empty() and len(tickets) < limit:
            tickets.append(inbox.get_nowait())
        return tickets

    def close(self) -> None:
        """Take nothing more: a delivery from now on goes back to the queue at once."""
        self._closed = True

    async def give_back(self) -> int:
        """Requeue, in order, what was received but not settled; how many."""
        pending = list(self._unsettled.values())
        self._unsettled.clear()
        for delivery in pending:
            await self._requeue(delivery)
        return len(pending)

    def decode(self, ticket: int) -> StreamEvent | StreamSnapshots | None:
        delivery = self._unsettled.get(ticket)
        if delivery is None:
            return None
        return self._events.read(delivery.body, sender=delivery.sender)

    def superseded(self, answer: StreamSnapshots) -> bool:
        """An answer to a resume started after this socket attached: another
        socket has the session now. Stop and give everything back unsent."""
        request_id = answer.request_id
        if self._issued(request_id) or is_resync_request(request_id) or request_id.version != 7:
            return False
        if request_id <= self._attached:
            return False  # a late answer to an earlier resume: still good information
        log.info(
            "session %s: resumed elsewhere (snapshot request %s); letting go", self.session_id, request_id
        )
        self._on_superseded()
        return True

    async def ack(self, ticket: int) -> None:
        delivery = self._unsettled.pop(ticket, None)
        if delivery is not None:
            try:
                await delivery.ack()
            except Exception as exc:  # the channel went away: the broker redelivers, dups are dropped
                log.debug("session %s: ack failed: %s", self.session_id, exc)

    async def _requeue(self, delivery: Delivery) -> None:
        try:
            await delivery.requeue()
        except Exception as exc:  # the channel went away: the broker requeues by itself
            log.debug("session %s: requeue failed: %s", self.session_id, exc)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
