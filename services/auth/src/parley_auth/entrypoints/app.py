"""The HTTP surface: `/api/auth/*` (docs/architecture.md section 7; the routers of
`sessions_api`, `account_api`, `admin_api`, `catalog_api`), `/healthz`, `/readyz`, `/metrics`;
and the app's start and stop: signing keys, the catalogue's seed, the periodic task."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from parley_auth import catalog, usage
from parley_auth.bootstrap import Auth, bootstrap
from parley_auth.deps import AuthDep
from parley_auth.domain.errors import AuthError
from parley_auth.entrypoints import account_api, admin_api, catalog_api, sessions_api
from parley_auth.entrypoints.consumers import register_consumers
from parley_auth.entrypoints.errors import auth_error, database_unavailable, validation_error
from parley_auth.outage import DATABASE_ERRORS
from parley_auth.settings import Settings
from parley_platform.browser_security import SecurityHeaders
from parley_platform.telemetry import instrument_app

log = logging.getLogger(__name__)

ops = APIRouter(tags=["operations"])


@ops.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops.get("/readyz", responses={503: {"description": "The database or the broker is down"}})
async def readyz(auth: AuthDep) -> JSONResponse:
    reason = await auth.readiness()
    if reason is not None:
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


@ops.get("/metrics", include_in_schema=False)
async def metrics(auth: AuthDep) -> Response:
    return Response(auth.metrics.render(), media_type=auth.metrics.content_type)


_STOP_WAIT_S = 10.0


async def _tell_how_to_bootstrap(auth: Auth) -> None:
    if auth.settings.dev:
        return
    async with auth.accounts.transaction() as accounts:
        if await accounts.count_admins() > 0:
            return
    how = (
        "register with the bootstrap token (PARLEY_AUTH_BOOTSTRAP_TOKEN), or "
        if auth.settings.bootstrap_token is not None
        else ""
    )
    log.warning("no admin account yet: %srun `python -m parley_auth grant-admin EMAIL`", how)


async def _periodic(auth: Auth, stopping: asyncio.Event) -> None:
    """Reload the signing keys (another replica may rotate), sweep the quota blocks, and
    announce the model catalogue again (so that a lost `catalog.updated` heals), until
    `stopping` is set."""
    settings = auth.settings
    next_sweep = next_announce = 0.0
    loop = asyncio.get_running_loop()
    while not stopping.is_set():
        try:
            await auth.keys.reload(auth.db, auth.now(), create=False)
            if loop.time() >= next_sweep:
                await usage.sweep(auth=auth)
                next_sweep = loop.time() + settings.quota_sweep_s
        except Exception as exc:
            log.warning("periodic task failed: %s: %s", type(exc).__name__, exc)
        if loop.time() >= next_announce:
            try:
                await catalog.announce(auth=auth)
                next_announce = loop.time() + settings.catalog_announce_s
            except Exception as exc:  # retried at the next tick
                log.warning("catalogue announcement failed: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):
            pause = min(settings.keys_reload_s, settings.quota_sweep_s, settings.catalog_announce_s)
            await asyncio.wait_for(stopping.wait(), pause)


def create_app(settings: Settings, *, auth: Auth | None = None) -> FastAPI:
    auth = auth or bootstrap(settings)
    register_consumers(auth)
    broker = auth.lifespan
    tasks: list[asyncio.Task[None]] = []
    stopping = asyncio.Event()

    @broker.after_startup
    async def _start() -> None:
        await auth.keys.reload(auth.db, auth.now())
        try:
            await catalog.reseal(auth=auth)
        except Exception as exc:  # the keys still open as they are; the next start tries again
            log.error("sealing provider keys again failed: %s: %s", type(exc).__name__, exc)
        try:
            await catalog.seed(auth=auth)
        except Exception as exc:  # the service runs on; admins can fill the catalogue
            log.error("seeding the model catalogue failed: %s: %s", type(exc).__name__, exc)
        tasks.append(asyncio.create_task(_periodic(auth, stopping), name="parley-auth-periodic"))
        log.info("auth service ready: signing key %s", auth.keys.active().kid)
        await _tell_how_to_bootstrap(auth)

    @broker.on_shutdown
    async def _stop() -> None:
        # The running tick finishes first: a task cancelled inside a broker call closes that
        # channel under the subscribers being stopped ("Channel closed by RPC timeout").
        stopping.set()
        for task in tasks:
            try:
                await asyncio.wait_for(task, _STOP_WAIT_S)
            except TimeoutError:
                log.warning("the periodic task did not finish within %.0f s: cancelled", _STOP_WAIT_S)
        await auth.db.close()

    app = FastAPI(title="Parley auth", version="0.1.0", docs_url=None, redoc_url=None, lifespan=broker.run)
    app.state.auth = auth
    app.include_router(sessions_api.router)
    app.include_router(account_api.router)
    app.include_router(admin_api.router)
    app.include_router(catalog_api.router)
    app.include_router(ops)
    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)
    instrument_app(app, registry=auth.metrics.registry)
    app.add_middleware(SecurityHeaders, hsts_max_age_s=settings.hsts_max_age_s)
    return app
