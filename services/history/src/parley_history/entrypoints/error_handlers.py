"""Domain errors as HTTP answers (`{"detail": ...}`): the only place they become status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
from parley_history.entrypoints.responses import NOT_UNICODE, has_unpaired_surrogate


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ConversationNotFound, _not_found)
    app.add_exception_handler(ProjectNotFound, _project_not_found)
    app.add_exception_handler(PromptNotFound, _prompt_not_found)
    app.add_exception_handler(InvalidInput, _invalid)
    app.add_exception_handler(LimitReached, _limit_reached)
    app.add_exception_handler(InvalidCursor, _bad_cursor)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(NotAuthenticated, _unauthenticated)
    app.add_exception_handler(NotAllowed, _forbidden)
    app.add_exception_handler(StoreUnavailable, _unavailable)


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return JSONResponse({"detail": "conversation not found"}, status_code=404)


async def _project_not_found(_request: Request, _exc: Exception) -> Response:
    return JSONResponse({"detail": "project not found"}, status_code=404)


async def _prompt_not_found(_request: Request, _exc: Exception) -> Response:
    return JSONResponse({"detail": "saved prompt not found"}, status_code=404)


async def _invalid(_request: Request, exc: Exception) -> Response:
    # The shape of every other 422 (FastAPI's validation list), as the OpenAPI document says.
    detail = [{"loc": [], "msg": str(exc), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _limit_reached(_request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _bad_cursor(_request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    # Echoing such text in a 422 could not be encoded (a 500): refused as unreadable instead.
    assert isinstance(exc, RequestValidationError)
    if has_unpaired_surrogate(exc.body) or any(e["type"] == "string_unicode" for e in exc.errors()):
        return JSONResponse({"detail": NOT_UNICODE}, status_code=400)
    return await request_validation_exception_handler(request, exc)


async def _unauthenticated(_request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def _forbidden(_request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=403)


async def _unavailable(_request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": f"temporarily unavailable: {exc}"}, status_code=503)
