"""The REST API (docs/architecture.md section 7): the app factory, health, readiness and
metrics; the routes live in `conversations_api`, `export_api` and `library_api`, the
answers to domain errors in `error_handlers`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from parley_history import __version__
from parley_history.adapters.metrics import HistoryMetrics
from parley_history.bootstrap import History, bootstrap
from parley_history.deps import HistoryDep
from parley_history.entrypoints.conversations_api import router as conversations_router
from parley_history.entrypoints.error_handlers import add_error_handlers
from parley_history.entrypoints.export_api import router as export_router
from parley_history.entrypoints.library_api import router as library_router
from parley_history.entrypoints.schemas import Health
from parley_history.settings import Settings
from parley_platform.browser_security import SecurityHeaders
from parley_platform.telemetry import instrument_app

ops_router = APIRouter(tags=["ops"])


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
    add_error_handlers(app)
    app.include_router(conversations_router)
    app.include_router(export_router)
    app.include_router(ops_router)
    app.include_router(library_router)
    instrument_app(app, registry=history.metrics.registry)
    app.add_middleware(SecurityHeaders)
    return app


@ops_router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@ops_router.get("/readyz", response_model=Health, responses={503: {"description": "Not ready"}})
async def readyz(history: HistoryDep) -> Response:
    problem = await history.readiness()
    if problem is not None:
        return JSONResponse({"detail": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


@ops_router.get("/metrics", response_class=PlainTextResponse)
async def metrics(history: HistoryDep) -> Response:
    return Response(generate_latest(history.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def openapi_document(settings: Settings | None = None) -> str:
    """The OpenAPI document as committed in `openapi.json` (no connections are opened)."""

    class _Unused:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("the OpenAPI document needs no store")

    settings = settings or Settings()
    history = History(settings, _Unused(), _Unused(), None, HistoryMetrics(), None)  # type: ignore[arg-type]
    return json.dumps(create_app(settings, history=history).openapi(), indent=2, sort_keys=True) + "\n"
