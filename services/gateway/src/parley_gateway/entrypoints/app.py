"""The HTTP and WebSocket surface: `/ws`, `/api/models`, `/api/auth/*` and
`/api/history/*` (proxied), and the built frontend at `/` when configured; and,
on the operations port only, `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.responses import JSONResponse, Response

from parley_gateway.adapters.frontend_files import FrontendFiles
from parley_gateway.bootstrap import Gateway, bootstrap
from parley_gateway.deps import GatewayDep
from parley_gateway.entrypoints.consumers import generation_events, register_consumers
from parley_gateway.entrypoints.openai import openai_routes
from parley_gateway.entrypoints.proxy import proxy_routes
from parley_gateway.entrypoints.stats import stats_routes
from parley_gateway.entrypoints.ws import ClientConnection
from parley_gateway.services import reports
from parley_gateway.services.broker_events import Inboxes
from parley_gateway.settings import Settings
from parley_platform.browser_security import SecurityHeaders
from parley_platform.telemetry import instrument_app

log = logging.getLogger(__name__)

routes = APIRouter()
ops_routes = APIRouter()
"""Probes and Prometheus: served on the operations port only (`create_ops_app`)."""


@routes.websocket("/ws")
async def chat_socket(websocket: WebSocket, gateway: GatewayDep) -> None:
    if not gateway.origins.admits(websocket.headers):
        # Another site's page would chat as whoever is logged in: closing before the accept
        # refuses the handshake (HTTP 403).
        log.warning("a WebSocket from origin %r refused", websocket.headers.get("origin"))
        await websocket.close(code=1008)
        return
    await ClientConnection(websocket, gateway).run()


@routes.get("/api/models")
async def list_models(gateway: GatewayDep) -> dict[str, Any]:
    return reports.models_listing(gateway.registry)


@ops_routes.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops_routes.get("/readyz", response_model=None)
async def readyz(gateway: GatewayDep) -> dict[str, str] | JSONResponse:
    reason = await gateway.readiness()
    if reason is not None:
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return {"status": "ready"}


@ops_routes.get("/metrics")
async def metrics(gateway: GatewayDep) -> Response:
    return Response(gateway.metrics.render(), media_type=gateway.metrics.content_type)


def create_app(settings: Settings, *, gateway: Gateway | None = None) -> FastAPI:
    gateway = gateway or bootstrap(settings)
    inboxes = Inboxes.of(settings.senders)
    register_consumers(gateway, inboxes)
    lifespan = gateway.lifespan

    @lifespan.after_startup
    async def _start() -> None:
        await gateway.queues.start()
        await gateway.queues.feed(*generation_events(gateway, inboxes))
        if not await gateway.verifier.refresh():
            log.warning("the JWKS could not be fetched at start; will retry on the first token")
        log.info("gateway %s ready: broker connected", gateway.instance_id)

    @lifespan.on_shutdown
    async def _stop() -> None:
        await gateway.queues.stop()
        await gateway.upstreams.close()
        await gateway.api_keys.close()

    app = FastAPI(
        title="Parley gateway", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan.run
    )
    app.state.gateway = gateway
    app.include_router(routes)
    app.include_router(proxy_routes)
    app.include_router(openai_routes)
    app.include_router(stats_routes)
    instrument_app(app, registry=gateway.metrics.registry)
    app.add_middleware(SecurityHeaders, hsts_max_age_s=settings.hsts_max_age_s)
    if settings.static_dir is not None:
        # Last: the routes above win over files of the same path.
        app.mount("/", FrontendFiles(settings.static_dir), name="frontend")
    return app


def create_ops_app(gateway: Gateway) -> FastAPI:
    """The operations port's app: `/healthz`, `/readyz` and `/metrics` of `gateway` (the public
    app's, which runs its broker), for probes and Prometheus; nothing else."""
    app = FastAPI(title="Parley gateway operations", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.gateway = gateway
    app.include_router(ops_routes)
    return app
