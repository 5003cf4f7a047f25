"""REST routes that hand data out whole: a conversation exported as JSON or Markdown, and the
admin's audit stream as NDJSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from parley_history import services
from parley_history.deps import Admin, CurrentUser, Store
from parley_history.domain.audit import AuditRecord
from parley_history.entrypoints.responses import CONVERSATION_NOT_FOUND, UNAUTHENTICATED
from parley_history.entrypoints.schemas import IsoDateTime, conversation_out

PREFIX = "/api/history"

router = APIRouter(prefix=PREFIX)


@router.get(
    "/conversations/{conversation_id}/export",
    responses={
        **UNAUTHENTICATED,
        **CONVERSATION_NOT_FOUND,
        200: {"content": {"application/json": {}, "text/markdown": {}}},
    },
    tags=["conversations"],
)
async def export_conversation(
    conversation_id: UUID,
    user: CurrentUser,
    store: Store,
    format: Annotated[Literal["json", "md"], Query()] = "json",
) -> Response:
    """The conversation as JSON (every branch) or Markdown (the branch last shown)."""
    view = await store.get_conversation(user.user_id, conversation_id)
    filename = f"conversation-{conversation_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "md":
        return PlainTextResponse(
            services.export_markdown(view), media_type="text/markdown; charset=utf-8", headers=headers
        )
    return Response(
        conversation_out(view).model_dump_json(indent=2), media_type="application/json", headers=headers
    )


@router.get(
    "/audit/events",
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "One audit row per line"},
        **UNAUTHENTICATED,
        403: {"description": "Not an admin"},
    },
    tags=["audit"],
)
async def audit_events(
    _admin: Admin,
    store: Store,
    conversation_id: UUID | None = None,
    user_id: str | None = None,
    since: IsoDateTime | None = None,
) -> StreamingResponse:
    """Admin: the consumed events of a conversation, a user or from a time on, in
    chain order, as NDJSON (each line: seq, hashes, and the event as received)."""

    async def lines() -> AsyncIterator[bytes]:
        async for record in store.audit_records(
            conversation_id=conversation_id, user_id=user_id, since=since
        ):
            yield _audit_line(record)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _audit_line(record: AuditRecord) -> bytes:
    line = {
        "seq": record.seq,
        "event_id": str(record.event_id),
        "type": record.type,
        "occurred_at": record.occurred_at.isoformat(),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "event": orjson.Fragment(record.body.encode()),
    }
    return orjson.dumps(line) + b"\n"
