"""The OpenAI-compatible API: `POST /v1/chat/completions` (streamed as
server-sent events or whole) and `GET /v1/models`, for any OpenAI client with
a Parley API key (`Authorization: Bearer pk_...`; an access token works too).
Errors are OpenAI's shape. A prompt travels the WebSocket's broker path, so
limits, quotas, usage, history and the audit trail apply. The gateway's refusals become
HTTP statuses here (`from_gateway_error`)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from parley_gateway.adapters.api_keys import ApiKeysThrottled, AuthUnreachable, InvalidApiKey
from parley_gateway.bootstrap import Gateway
from parley_gateway.completions import CompletionRun
from parley_gateway.deps import GatewayDep
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import AuthUnavailable, ErrorCode, GatewayError
from parley_gateway.domain.openai_api import (
    ChatCompletionRequest,
    Completion,
    InvalidRequest,
    finish_reason,
    models_list,
    parse_request,
)
from parley_gateway.domain.stream import DeltaFrame, DoneFrame, RestartFrame, SnapshotFrame, StreamErrorFrame

log = logging.getLogger(__name__)

openai_routes = APIRouter()

API_KEY_PREFIX = "pk_"
_STARTED = int(time.time())
_RESTARTED_MESSAGE = (
    "The answer was interrupted: its worker stopped and another one started it again. Retry the request."
)


ErrorType = Literal["invalid_request_error", "authentication_error", "rate_limit_error", "api_error"]


@dataclass(frozen=True)
class OpenAIError(Exception):
    """An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

    status: int
    message: str
    type: ErrorType
    code: str | None = None
    param: str | None = None

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


_GATEWAY_ERRORS: dict[ErrorCode, tuple[int, ErrorType]] = {
    ErrorCode.MODEL_UNAVAILABLE: (404, "invalid_request_error"),
    ErrorCode.TOO_MANY_GENERATIONS: (429, "rate_limit_error"),
    ErrorCode.RATE_LIMITED: (429, "rate_limit_error"),
    ErrorCode.QUOTA_EXCEEDED: (429, "rate_limit_error"),
    ErrorCode.BROKER_UNAVAILABLE: (503, "api_error"),
    ErrorCode.AUTH_UNAVAILABLE: (503, "api_error"),
    ErrorCode.INVALID_TOKEN: (401, "authentication_error"),
    ErrorCode.TOKEN_EXPIRED: (401, "authentication_error"),
}


def from_gateway_error(error: GatewayError) -> OpenAIError:
    status, kind = _GATEWAY_ERRORS.get(error.code, (500, "api_error"))
    code = "model_not_found" if error.code is ErrorCode.MODEL_UNAVAILABLE else str(error.code)
    return OpenAIError(status, error.message, kind, code)


def from_invalid_request(error: InvalidRequest) -> OpenAIError:
    return OpenAIError(400, error.message, "invalid_request_error", "invalid_request", error.param)


def generation_failed(code: str, message: str) -> OpenAIError:
    """A generation that ended with an error after it was accepted."""
    return OpenAIError(502, message, "api_error", code)


def _error(error: OpenAIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _unauthorized(message: str) -> OpenAIError:
    return OpenAIError(401, message, "authentication_error", "invalid_api_key")


def _refused(error: GatewayError) -> OpenAIError:
    """A credential that did not pass: 401, unless no credential could be checked (503)."""
    if isinstance(error, AuthUnavailable):
        return from_gateway_error(error)
    return _unauthorized(f"The credential was refused: {error.message}")


async def _principal(request: Request, gateway: Gateway) -> Principal:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise _unauthorized("No API key: send `Authorization: Bearer <Parley API key>`.")
    if not credential.startswith(API_KEY_PREFIX):
        try:
            return await gateway.verifier.verify(credential)
        except GatewayError as error:
            raise _refused(error) from None
    address = request.client.host if request.client else "unknown"
    try:
        return await _key_principal(credential, address, gateway)
    except AuthUnavailable as error:
        raise _refused(error) from None
    except GatewayError:
        # The cached token was refused (expired early, or issued before the account's access
        # changed): the key itself may still be good, so exchange it once more.
        gateway.api_keys.forget(credential)
    try:
        return await _key_principal(credential, address, gateway)
    except GatewayError as error:
        gateway.api_keys.forget(credential)
        raise _refused(error) from None


async def _key_principal(api_key: str, address: str, gateway: Gateway) -> Principal:
    """The principal of an API key's access token (cached, else exchanged with auth)."""
    try:
        token = await gateway.api_keys.access_token(api_key, client_address=address)
    except InvalidApiKey:
        raise _unauthorized("Invalid API key (unknown, revoked, or its account is disabled).") from None
    except ApiKeysThrottled:
        raise OpenAIError(
            429, "Too many failed API key attempts; try again later.", "rate_limit_error", "rate_limited"
        ) from None
    except AuthUnreachable as exc:
        log.warning("API key exchange failed: %s", exc)
        raise OpenAIError(
            503, "The account service is unavailable; try again.", "api_error", "auth_unavailable"
        ) from None
    return await gateway.verifier.verify(token)


async def _body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise OpenAIError(
                413, f"The request body is larger than {limit} bytes.", "invalid_request_error", "too_large"
            )
    return bytes(body)


@openai_routes.get("/v1/models")
async def list_models(request: Request, gateway: GatewayDep) -> Response:
    try:
        await _principal(request, gateway)
    except OpenAIError as error:
        return _error(error)
    return JSONResponse(models_list([m.name for m in gateway.registry.models()], _STARTED))


@openai_routes.post("/v1/chat/completions")
async def chat_completions(request: Request, gateway: GatewayDep) -> Response:
    try:
        principal = await _principal(request, gateway)
        body = parse_request(await _body(request, gateway.settings.max_frame_bytes))
    except OpenAIError as error:
        return _error(error)
    except InvalidRequest as error:
        return _error(from_invalid_request(error))
    run = CompletionRun(gateway, principal)
    try:
        accepted = await run.start(body)
    except GatewayError as error:
        await run.close()
        return _error(from_gateway_error(error))
    except BaseException:
        await run.close()
        raise
    completion = Completion(str(accepted.message_id), body.model)
    headers = {"x-parley-conversation-id": str(accepted.conversation_id)}
    if body.stream:
        return StreamingResponse(
            _events(run, completion, body),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        return await _whole(run, completion, headers)
    finally:
        await run.close()


async def _whole(run: CompletionRun, completion: Completion, headers: dict[str, str]) -> Response:
    text = ""
    async for frame in run.frames():
        if isinstance(frame, SnapshotFrame):
            text = frame.text
        elif isinstance(frame, RestartFrame):
            text = ""
        elif isinstance(frame, DeltaFrame):
            text += frame.text
        elif isinstance(frame, DoneFrame):
            body = completion.whole(frame.text, frame.finish_reason, frame.usage)
            return JSONResponse(body, headers=headers)
        elif isinstance(frame, StreamErrorFrame):
            return _error(generation_failed(frame.code, frame.message))
    raise AssertionError("the frames end with done or error")


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def _events(
    run: CompletionRun, completion: Completion, request: ChatCompletionRequest
) -> AsyncIterator[bytes]:
    sent_text = False
    try:
        yield _sse(completion.chunk({"role": "assistant", "content": ""}))
        async for frame in run.frames():
            if isinstance(frame, DeltaFrame | SnapshotFrame) and frame.text:
                sent_text = True
                yield _sse(completion.chunk({"content": frame.text}))
            elif isinstance(frame, RestartFrame) and sent_text:
                # Text already sent cannot be taken back: say so rather than mix two answers.
                yield _sse(generation_failed("generation_restarted", _RESTARTED_MESSAGE).body())
                return
            elif isinstance(frame, DoneFrame):
                yield _sse(completion.chunk({}, finish_reason(frame.finish_reason)))
                if request.include_usage:
                    yield _sse(completion.usage_chunk(frame.usage))
                yield b"data: [DONE]\n\n"
            elif isinstance(frame, StreamErrorFrame):
                yield _sse(generation_failed(frame.code, frame.message).body())
    finally:
        await run.close()
