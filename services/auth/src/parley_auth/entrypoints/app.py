"""The HTTP surface: `/api/auth/*` (docs/architecture.md section 7), `/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from parley_auth import catalog, services, usage
from parley_auth.bootstrap import Auth, bootstrap
from parley_auth.deps import AdminSession, AuthDep, CurrentSession
from parley_auth.domain.accounts import Role
from parley_auth.domain.errors import (
    AccountDisabled,
    AuthError,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    PolicyViolation,
    Throttled,
    Unavailable,
)
from parley_auth.entrypoints import catalog_api
from parley_auth.entrypoints.consumers import register_consumers
from parley_auth.entrypoints.schemas import (
    AdminUserPatch,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    ApiKeysOut,
    ErrorOut,
    LoginIn,
    MePatch,
    PasswordChangeIn,
    RegisterIn,
    TokenExchangeIn,
    TokenOut,
    UsageOut,
    UsageRowOut,
    UserOut,
    UsersPage,
)
from parley_auth.outage import DATABASE_ERRORS
from parley_auth.settings import Settings
from parley_platform.browser_security import SecurityHeaders
from parley_platform.telemetry import instrument_app

log = logging.getLogger(__name__)

PREFIX = "/api/auth"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("a day is YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar day as YYYY-MM-DD only (not a Unix timestamp)."""

_STATUS: dict[type[AuthError], int] = {
    InvalidCredentials: 401,
    InvalidToken: 401,
    AccountDisabled: 403,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PolicyViolation: 422,
    Throttled: 429,
    Unavailable: 503,
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired credentials", "model": ErrorOut},
    403: {"description": "Not allowed (not an admin, or the account is disabled)", "model": ErrorOut},
}

api = APIRouter(
    prefix=PREFIX,
    tags=["auth"],
    responses={400: {"description": "The request body is not JSON", "model": ErrorOut}},
)
ops = APIRouter(tags=["operations"])


def _set_refresh_cookie(response: Response, auth: Auth, tokens: services.Tokens) -> None:
    assert tokens.refresh_token is not None
    settings = auth.settings
    response.set_cookie(
        settings.cookie_name,
        tokens.refresh_token,
        max_age=tokens.refresh_expires_in,
        path=settings.refresh_path,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _clear_refresh_cookie(response: Response, auth: Auth) -> None:
    settings = auth.settings
    response.delete_cookie(
        settings.cookie_name, path=settings.refresh_path, secure=settings.cookie_secure, httponly=True,
        samesite="strict",
    )  # fmt: skip


def _token_out(tokens: services.Tokens) -> TokenOut:
    return TokenOut(access_token=tokens.access_token, expires_in=tokens.expires_in)


@api.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "A wrong bootstrap token, or an admin exists already", "model": ErrorOut},
        409: {"description": "Email taken"},
        429: {"description": "Too many registrations from this address, or too busy", "model": ErrorOut},
    },
)
async def register(body: RegisterIn, request: Request, auth: AuthDep) -> UserOut:
    user = await services.register(
        body.email,
        body.display_name,
        body.password,
        address=_address(request),
        bootstrap_token=body.bootstrap_token,
        auth=auth,
    )
    return UserOut.model_validate(user)


def _address(request: Request) -> str:
    """The client's address (from the trusted proxies' `X-Forwarded-For`, see settings)."""
    return request.client.host if request.client else "unknown"


@api.post("/login", responses={**_ERRORS, 429: {"description": "Too many failed logins"}})
async def login(body: LoginIn, request: Request, response: Response, auth: AuthDep) -> TokenOut:
    tokens = await services.login(body.email, body.password, _address(request), auth=auth)
    _set_refresh_cookie(response, auth, tokens)
    response.headers["Cache-Control"] = "no-store"
    return _token_out(tokens)


def _same_site(request: Request, auth: Auth) -> None:
    """Where the cookie alone acts, a browser page of another site is refused (behind an
    Ingress the browser's `Origin` and `Host` reach this service; the gateway checks its own)."""
    if not auth.origins.admits(request.headers):
        raise Forbidden("a request from another site is refused")


@api.post("/refresh", responses={**_ERRORS, 403: {"description": "From another site", "model": ErrorOut}})
async def refresh(request: Request, response: Response, auth: AuthDep) -> TokenOut:
    """Rotates the refresh cookie; a spent cookie presented again revokes its whole session."""
    _same_site(request, auth)
    tokens = await services.refresh(request.cookies.get(auth.settings.cookie_name), auth=auth)
    _set_refresh_cookie(response, auth, tokens)
    response.headers["Cache-Control"] = "no-store"
    return _token_out(tokens)


@api.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def logout(request: Request, auth: AuthDep) -> Response:
    """Ends the session of the access token (`Authorization: Bearer`, its `sid`) and/or of the
    refresh cookie; 401 when neither names a session. The cookie is cleared either way."""
    _same_site(request, auth)
    claims = services.optional_claims(request.headers.get("authorization"), auth=auth)
    try:
        await services.logout(claims, request.cookies.get(auth.settings.cookie_name), auth=auth)
        response: Response = Response(status_code=status.HTTP_204_NO_CONTENT)
    except InvalidToken as exc:
        response = await _auth_error(request, exc)
    _clear_refresh_cookie(response, auth)
    return response


@api.get("/me", responses=_ERRORS)
async def me(session: CurrentSession) -> UserOut:
    return UserOut.model_validate(session.user)


@api.patch("/me", responses=_ERRORS)
async def update_me(body: MePatch, session: CurrentSession, auth: AuthDep) -> UserOut:
    preferences = body.preferences.model_dump(exclude_unset=True) if body.preferences else None
    user = await services.update_profile(
        session.user.id, display_name=body.display_name, preferences=preferences, auth=auth
    )
    return UserOut.model_validate(user)


@api.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def change_password(body: PasswordChangeIn, session: CurrentSession, auth: AuthDep) -> None:
    """Changes the password and revokes every other session of the account."""
    await services.change_password(
        session.user.id, session.claims, body.current_password, body.new_password, auth=auth
    )


@api.get("/me/usage", responses=_ERRORS)
async def my_usage(
    session: CurrentSession,
    auth: AuthDep,
    since: Day | None = None,
    until: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageOut:
    rows = await usage.usage(user_id=str(session.user.id), since=since, until=until, limit=limit, auth=auth)
    return UsageOut(usage=[UsageRowOut.model_validate(r) for r in rows])


@api.get("/jwks.json")
async def jwks(auth: AuthDep, response: Response) -> dict[str, list[dict[str, str]]]:
    """Every public key a still-valid access token may be signed by."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return auth.keys.jwks(auth.now())


@api.post(
    "/token",
    responses={
        401: {"description": "Invalid API key"},
        403: _ERRORS[403],
        429: {"description": "Too many failures"},
    },
)
async def exchange_token(
    body: TokenExchangeIn, request: Request, auth: AuthDep, response: Response
) -> TokenOut:
    """Exchanges an API key for an access token; failed exchanges are throttled per address."""
    response.headers["Cache-Control"] = "no-store"
    return _token_out(await services.exchange_api_key(body.api_key, _address(request), auth=auth))


@api.get("/keys", responses=_ERRORS)
async def list_keys(session: CurrentSession, auth: AuthDep) -> ApiKeysOut:
    rows = await services.list_api_keys(session.user.id, auth=auth)
    return ApiKeysOut(keys=[ApiKeyOut.model_validate(r) for r in rows])


@api.post("/keys", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def create_key(body: ApiKeyIn, session: CurrentSession, auth: AuthDep) -> ApiKeyCreated:
    """Creates an API key; its secret (`key`) is in this answer only. Asks for the account's
    `password`, unless the session signed in within the last five minutes (401 otherwise)."""
    row, secret = await services.create_api_key(
        session.user, session.claims, body.name, password=body.password, auth=auth
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=secret)


@api.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**_ERRORS, 404: {}})
async def revoke_key(key_id: uuid.UUID, session: CurrentSession, auth: AuthDep) -> None:
    await services.revoke_api_key(session.user.id, key_id, auth=auth)


@api.get("/users", responses=_ERRORS)
async def list_users(
    _admin: AdminSession,
    auth: AuthDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UsersPage:
    """Admins only: users, optionally those whose email or display name contains `q`."""
    rows, total = await services.list_users(q, limit, offset, auth=auth)
    return UsersPage(users=[UserOut.model_validate(r) for r in rows], total=total)


@api.patch("/users/{user_id}", responses={**_ERRORS, 404: {}, 409: {}})
async def update_user(
    user_id: uuid.UUID, body: AdminUserPatch, admin: AdminSession, auth: AuthDep
) -> UserOut:
    """Admins only: role, disabled (revokes the user's sessions at once), token budget."""
    user = await services.admin_update_user(
        admin.user,
        user_id,
        role=Role(body.role) if body.role else None,
        disabled=body.disabled,
        budget_tokens=body.budget_tokens,
        clear_budget="budget_tokens" in body.model_fields_set and body.budget_tokens is None,
        auth=auth,
    )
    if "budget_tokens" in body.model_fields_set:
        try:
            await usage.reevaluate(str(user.id), auth=auth)
        except Exception as exc:  # the periodic sweep retries
            log.warning("quota re-evaluation of %s deferred: %s", user.id, exc)
    return UserOut.model_validate(user)


@api.get("/usage", responses=_ERRORS)
async def read_usage(
    _admin: AdminSession,
    auth: AuthDep,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    since: Day | None = None,
    until: Day | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageOut:
    """Admins only: the usage ledger per user, model and day."""
    rows = await usage.usage(user_id=user_id, since=since, until=until, limit=limit, auth=auth)
    return UsageOut(usage=[UsageRowOut.model_validate(r) for r in rows])


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


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    code = next((c for kind, c in _STATUS.items() if isinstance(exc, kind)), 400)
    headers: dict[str, str] = {}
    if isinstance(exc, PolicyViolation):  # the shape of every other 422
        detail = [{"loc": ["body", exc.field], "msg": exc.detail, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse({"detail": exc.detail}, status_code=code, headers=headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A request that needed the database while it does not answer: 503, a clear
    retry-later (an unhandled error was a 500 and closed the proxy's kept-alive connection)."""
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    log.warning("%s %s: the database is unavailable (%s)", request.method, request.url.path, reason)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "2"},
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


_STOP_WAIT_S = 10.0


async def _tell_how_to_bootstrap(auth: Auth) -> None:
    if auth.settings.dev:
        return
    async with auth.db.transaction() as repo:
        if await repo.count_admins() > 0:
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
            async with auth.db.transaction() as repo:
                await auth.keys.load(repo, auth.now(), create=False)
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
    router = auth.router
    tasks: list[asyncio.Task[None]] = []
    stopping = asyncio.Event()

    @router.after_startup
    async def _start(_app: FastAPI) -> None:
        async with auth.db.transaction() as repo:
            await auth.keys.load(repo, auth.now())
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

    @router.on_broker_shutdown
    async def _stop(_app: FastAPI) -> None:
        # The running tick finishes first: a task cancelled inside a broker call closes that
        # channel under the subscribers being stopped ("Channel closed by RPC timeout").
        stopping.set()
        for task in tasks:
            try:
                await asyncio.wait_for(task, _STOP_WAIT_S)
            except TimeoutError:
                log.warning("the periodic task did not finish within %.0f s: cancelled", _STOP_WAIT_S)
        await auth.db.close()

    app = FastAPI(title="Parley auth", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.auth = auth
    app.include_router(router)
    app.include_router(api)
    app.include_router(catalog_api.router)
    app.include_router(ops)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
    instrument_app(app, registry=auth.metrics.registry)
    app.add_middleware(SecurityHeaders, hsts_max_age_s=settings.hsts_max_age_s)
    return app
