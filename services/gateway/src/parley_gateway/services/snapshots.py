"""Use case of a resume or a resync: ask the workers for their generations of a session."""

from __future__ import annotations

import logging
from uuid import UUID

from parley_contracts import RequestSnapshot, new_id
from parley_contracts.topology import session_queue
from parley_gateway.domain.errors import BrokerUnavailable
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stream import ResumeHold
from parley_gateway.ports import EventPublisher

log = logging.getLogger(__name__)


async def request_snapshots(
    session_id: UUID, *, publisher: EventPublisher, registry: WorkerRegistry, request_id: UUID | None = None
) -> ResumeHold:
    """Ask every worker for its generations of this session; the hold counts the answers."""
    command = RequestSnapshot(
        request_id=request_id or new_id(), session_id=session_id, reply_to=session_queue(session_id).name
    )
    hold = ResumeHold(command.request_id, registry.snapshot_holders())
    try:
        await publisher.publish_control(command)
    except BrokerUnavailable as exc:
        log.warning("session %s: snapshot request not published: %s", session_id, exc)
    return hold
