"""The REST API (docs/architecture.md section 7): the owner's conversations, export, the admin
audit stream, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import FastAPI, Query, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from parley_history import __version__, library, services
from parley_history.adapters.metrics import HistoryMetrics
from parley_history.bootstrap import History, bootstrap
from parley_history.deps import Admin, CurrentUser, HistoryDep, Publisher, Store
from parley_history.domain.audit import AuditRecord
from parley_history.domain.conversations import Cursor, ProjectFilter
from parley_history.domain.errors import (
    ConversationNotFound,
    InvalidCursor,
    InvalidInput,
    LimitReached,
    NotAllowed,
    NotAuthenticated,
    ProjectNotFound,
    PromptNotFound,
    StoreUnavailable,
)
from parley_history.domain.library import clean_query
from parley_history.entrypoints.library_api import router as library_router
from parley_history.entrypoints.publishing import publishing as _publishing
from parley_history.entrypoints.responses import (
    BAD_REQUEST,
    NOT_UNICODE,
    UNAUTHENTICATED,
    has_unpaired_surrogate,
)
from parley_history.entrypoints.schemas import (
    ConversationDetail,
    ConversationPage,
    ConversationPatch,
    Health,
    IsoDateTime,
    conversation_out,
    summary_out,
)
from parley_history.ports import HistoryStore
from parley_history.settings import Settings
from parley_platform.browser_security import SecurityHeaders
from parley_platform.telemetry import instrument_app

PREFIX = "/api/history"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such conversation for this user"}}


def create_app(settings: Settings | None = None, *, history: History | None = None) -> FastAPI:
    if history is None:
        history = bootstrap(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(history.consumer.run()) if history.consumer is not None else None
        try:
            yield
        finally:
            if task is not None and history.consumer is not None:
                history.consumer.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            await history.close()

    # No interactive docs: its page loads scripts the services' Content-Security-Policy refuses.
    app = FastAPI(
        title="Parley history", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.history = history
    _errors(app)
    _routes(app)
    app.include_router(library_router)
    instrument_app(app, registry=history.metrics.registry)
    app.add_middleware(SecurityHeaders)
    return app


def _errors(app: FastAPI) -> None:
    async def not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"detail": "conversation not found"}, status_code=404)

    async def project_not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"detail": "project not found"}, status_code=404)

    async def prompt_not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"detail": "saved prompt not found"}, status_code=404)

    async def invalid(_request: Request, exc: Exception) -> Response:
        # The shape of every other 422 (FastAPI's validation list), as the OpenAPI document says.
        detail = [{"loc": [], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    async def limit_reached(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    async def bad_cursor(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        # Echoing such text in a 422 could not be encoded (a 500): refused as unreadable instead.
        assert isinstance(exc, RequestValidationError)
        if has_unpaired_surrogate(exc.body) or any(e["type"] == "string_unicode" for e in exc.errors()):
            return JSONResponse({"detail": NOT_UNICODE}, status_code=400)
        return await request_validation_exception_handler(request, exc)

    async def unauthenticated(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def forbidden(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    async def unavailable(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": f"temporarily unavailable: {exc}"}, status_code=503)

    app.add_exception_handler(ConversationNotFound, not_found)
    app.add_exception_handler(ProjectNotFound, project_not_found)
    app.add_exception_handler(PromptNotFound, prompt_not_found)
    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(LimitReached, limit_reached)
    app.add_exception_handler(InvalidCursor, bad_cursor)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(NotAuthenticated, unauthenticated)
    app.add_exception_handler(NotAllowed, forbidden)
    app.add_exception_handler(StoreUnavailable, unavailable)


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


def _routes(app: FastAPI) -> None:
    @app.get(
        f"{PREFIX}/conversations",
        response_model=ConversationPage,
        responses={
            **BAD_REQUEST,
            **UNAUTHENTICATED,
            404: {"description": "`project_id` names no project of this user"},
        },
        tags=["conversations"],
    )
    async def list_conversations(
        user: CurrentUser,
        store: Store,
        history: HistoryDep,
        q: Annotated[str | None, Query(max_length=200, description="Search titles and message text")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
        project_id: Annotated[
            str | None,
            Query(description="A project's id: only its conversations; `none`: those in no project"),
        ] = None,
    ) -> ConversationPage:
        """The user's conversations, newest first."""
        page = await store.list_conversations(
            user.user_id,
            query=clean_query(q),
            limit=min(limit, history.settings.page_size_max),
            cursor=Cursor.decode(cursor) if cursor else None,
            project=await _project_filter(store, user.user_id, project_id),
        )
        return ConversationPage(
            items=[summary_out(item) for item in page.items], next_cursor=page.next_cursor
        )

    @app.get(
        f"{PREFIX}/conversations/{{conversation_id}}",
        response_model=ConversationDetail,
        responses={**UNAUTHENTICATED, **NOT_FOUND},
        tags=["conversations"],
    )
    async def get_conversation(conversation_id: UUID, user: CurrentUser, store: Store) -> ConversationDetail:
        """One conversation with its whole message tree and the branch last shown."""
        return conversation_out(await store.get_conversation(user.user_id, conversation_id))

    @app.patch(
        f"{PREFIX}/conversations/{{conversation_id}}",
        response_model=ConversationDetail,
        responses={**NOT_FOUND, **BAD_REQUEST, **UNAUTHENTICATED},
        tags=["conversations"],
    )
    async def patch_conversation(
        conversation_id: UUID, patch: ConversationPatch, user: CurrentUser, store: Store, publisher: Publisher
    ) -> ConversationDetail:
        """Rename (published as `conversation.renamed`), pin (`conversation.pinned`), move into or
        out of a project (`conversation.moved`; an unknown project is a 404) and/or show another
        branch (`conversation.branch_selected`; a leaf outside the conversation is a 422)."""
        view = await store.get_conversation(user.user_id, conversation_id)
        if "project_id" in patch.model_fields_set:
            view = await _publishing(
                library.move_conversation(
                    user.user_id, conversation_id, patch.project_id, store=store, publisher=publisher
                )
            )
        if patch.title is not None:
            view = await _publishing(
                services.rename(user.user_id, conversation_id, patch.title, store=store, publisher=publisher)
            )
        if patch.pinned is not None:
            view = await _publishing(
                services.set_pinned(
                    user.user_id, conversation_id, patch.pinned, store=store, publisher=publisher
                )
            )
        if patch.current_leaf_id is not None:
            view = await _publishing(
                services.select_branch(
                    user.user_id, conversation_id, patch.current_leaf_id, store=store, publisher=publisher
                )
            )
        return conversation_out(view)

    @app.delete(
        f"{PREFIX}/conversations/{{conversation_id}}",
        status_code=204,
        responses={**UNAUTHENTICATED, **NOT_FOUND},
        tags=["conversations"],
    )
    async def delete_conversation(
        conversation_id: UUID, user: CurrentUser, store: Store, publisher: Publisher
    ) -> Response:
        """Gone for the user (published as `conversation.deleted`); the audit log keeps its events."""
        await _publishing(services.delete(user.user_id, conversation_id, store=store, publisher=publisher))
        return Response(status_code=204)

    @app.get(
        f"{PREFIX}/conversations/{{conversation_id}}/export",
        responses={
            **UNAUTHENTICATED,
            **NOT_FOUND,
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

    @app.get(
        f"{PREFIX}/audit/events",
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

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"description": "Not ready"}}, tags=["ops"])
    async def readyz(history: HistoryDep) -> Response:
        problem = await history.readiness()
        if problem is not None:
            return JSONResponse({"detail": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
    async def metrics(history: HistoryDep) -> Response:
        return Response(generate_latest(history.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _project_filter(store: HistoryStore, user_id: str, value: str | None) -> ProjectFilter:
    if value is None:
        return None
    if value == "none":
        return "none"
    try:
        project_id = UUID(value)
    except ValueError as exc:
        raise InvalidInput("project_id must be a project's id or `none`") from exc
    await store.get_project(user_id, project_id)  # another user's project: 404
    return project_id


def openapi_document(settings: Settings | None = None) -> str:
    """The OpenAPI document as committed in `openapi.json` (no connections are opened)."""

    class _Unused:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("the OpenAPI document needs no store")

    settings = settings or Settings()
    history = History(settings, _Unused(), _Unused(), None, HistoryMetrics(), None)  # type: ignore[arg-type]
    return json.dumps(create_app(settings, history=history).openapi(), indent=2, sort_keys=True) + "\n"
