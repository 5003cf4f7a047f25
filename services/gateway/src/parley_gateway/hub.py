"""Which socket of this process holds which session.

A session is relayed to one socket at a time. A new socket that resumes a
session takes it over from the socket holding it: at once in this process,
and through the `snapshot.request` that every gateway sees on `chat.control`
when the holder is in another process (`on_snapshot_request`).

When an admin changes an account's access, the sockets holding that user's
sessions check their token again (`on_access_changed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol
from uuid import UUID

from parley_contracts import RequestSnapshot
from parley_gateway.domain.sessions import is_resync_request, owns

log = logging.getLogger(__name__)


class Holder(Protocol):
    def issued(self, request_id: UUID) -> bool:
        """Whether this holder published that snapshot request."""
        ...

    async def take_over(self) -> None:
        """Another socket resumed the session: let it go and close."""
        ...

    async def access_changed(self) -> None:
        """The user's account access changed: check the token again, close if it no longer counts."""
        ...


class SessionHub:
    def __init__(self) -> None:
        self._holders: dict[UUID, Holder] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def holder(self, session_id: UUID) -> Holder | None:
        return self._holders.get(session_id)

    async def claim(self, session_id: UUID, holder: Holder) -> None:
        """Make `holder` the session's socket; the previous one lets go first,
        so that what it had not sent is back in the queue."""
        previous = self._holders.get(session_id)
        if previous is not None and previous is not holder:
            log.info("session %s: taken over by a new socket in this process", session_id)
            await previous.take_over()
        self._holders[session_id] = holder

    def release(self, session_id: UUID, holder: Holder) -> None:
        if self._holders.get(session_id) is holder:
            del self._holders[session_id]

    def on_snapshot_request(self, command: RequestSnapshot) -> None:
        holder = self._holders.get(command.session_id)
        if holder is None or is_resync_request(command.request_id) or holder.issued(command.request_id):
            return
        log.info("session %s: resumed on another gateway; letting it go", command.session_id)
        del self._holders[command.session_id]
        self._spawn(holder.take_over())

    def on_access_changed(self, user_id: str) -> int:
        """Have every socket holding a session of `user_id` check its token again; how many."""
        holders = [holder for session_id, holder in self._holders.items() if owns(session_id, user_id)]
        for holder in holders:
            self._spawn(holder.access_changed())
        return len(holders)

    def _spawn(self, step: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __len__(self) -> int:
        return len(self._holders)
