"""Domain errors become HTTP answers here, and only here."""

from __future__ import annotations

import logging

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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

log = logging.getLogger(__name__)

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


async def auth_error(request: Request, exc: Exception) -> JSONResponse:
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


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A request that needed the database while it does not answer: 503, a clear
    retry-later (an unhandled error was a 500 and closed the proxy's kept-alive connection)."""
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    log.warning("%s %s: the database is unavailable (%s)", request.method, request.url.path, reason)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "2"},
    )


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)
