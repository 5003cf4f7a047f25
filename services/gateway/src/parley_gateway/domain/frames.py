"""Client frames on `/ws` (docs/architecture.md section 7): parsing, validation, and the
non-stream frames the server answers with.

`parse_frame` turns one WebSocket message into a typed frame or raises
`GatewayError` with a stable code; it never lets a bad frame through and
never needs the socket to close.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from parley_contracts import ChatMessage, GenerationParams
from parley_gateway.domain.errors import ErrorCode, GatewayError

MAX_REQUEST_ID_CHARS = 128
MAX_MODEL_CHARS = 200
MAX_MESSAGES = 1000
MAX_TOKEN_CHARS = 16_384

NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]


class _Frame(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Hello(_Frame):
    type: Literal["hello"]
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)
    session_id: UUID | None = None
    last_seq: NonNegativeInt | None = None


class Resume(_Frame):
    """`hello` with a session id, on a socket that is already authenticated."""

    type: Literal["resume"]
    session_id: UUID
    last_seq: NonNegativeInt | None = None


class Prompt(_Frame):
    type: Literal["prompt"]
    request_id: str = Field(min_length=1, max_length=MAX_REQUEST_ID_CHARS)
    conversation_id: UUID | None = None
    parent_id: UUID | None = None
    prompt_message_id: UUID | None = None
    """Regenerate: the id of the user message (from `accepted`) to answer again, as a new
    answer beside the earlier ones; unset, the prompt is a new user message."""
    project_id: UUID | None = None
    """A new conversation started inside this project (history files it there at once)."""
    model: str = Field(min_length=1, max_length=MAX_MODEL_CHARS)
    messages: tuple[ChatMessage, ...] = Field(min_length=1, max_length=MAX_MESSAGES)
    params: GenerationParams = GenerationParams()


class Stop(_Frame):
    type: Literal["stop"]
    message_id: UUID


class Ping(_Frame):
    type: Literal["ping"]


ClientFrame = Hello | Resume | Prompt | Stop | Ping

_FRAMES: dict[str, type[_Frame]] = {
    "hello": Hello,
    "resume": Resume,
    "prompt": Prompt,
    "stop": Stop,
    "ping": Ping,
}
FRAME_TYPES: tuple[str, ...] = tuple(_FRAMES)


def _utf8_size(text: str, limit: int) -> int:
    # A str of n code points is at most 4n bytes of UTF-8: skip the encode when it fits anyway.
    if len(text) * 4 <= limit:
        return len(text)
    return len(text.encode("utf-8", errors="surrogatepass"))


def _ids(raw: dict[str, Any]) -> tuple[str | None, UUID | None]:
    """The client's `request_id` and a `message_id` of a frame, when they are usable."""
    request_id = raw.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID_CHARS:
        request_id = None
    message_id: UUID | None = None
    candidate = raw.get("message_id")
    if isinstance(candidate, str):
        try:
            message_id = UUID(candidate)
        except ValueError:
            message_id = None
    return request_id, message_id


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        field = ".".join(str(part) for part in error["loc"]) or "frame"
        parts.append(f"{field}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_frame(data: str | bytes | None, *, max_bytes: int, binary: bool = False) -> ClientFrame:
    """Validate one WebSocket message; raise `GatewayError` naming the problem."""
    if binary:
        raise GatewayError(ErrorCode.BINARY_FRAME, "binary frames are not supported: send JSON text frames")
    if data is None:
        raise GatewayError(ErrorCode.INVALID_FRAME, "empty frame")
    size = len(data) if isinstance(data, bytes) else _utf8_size(data, max_bytes)
    if size > max_bytes:
        raise GatewayError(
            ErrorCode.FRAME_TOO_LARGE, f"frame is {size} bytes; the limit is {max_bytes} bytes"
        )
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise GatewayError(ErrorCode.INVALID_FRAME, "a frame must be a JSON object with a 'type'")
    request_id, message_id = _ids(raw)
    frame_type = raw.get("type")
    if not isinstance(frame_type, str):
        raise GatewayError(
            ErrorCode.INVALID_FRAME,
            "type: a frame needs a string 'type'",
            request_id=request_id,
            message_id=message_id,
        )
    model = _FRAMES.get(frame_type)
    if model is None:
        raise GatewayError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown frame type {frame_type[:64]!r}; expected one of {', '.join(FRAME_TYPES)}",
            request_id=request_id,
            message_id=message_id,
        )
    try:
        frame: ClientFrame = model.model_validate(raw)  # type: ignore[assignment]
    except ValidationError as exc:
        raise GatewayError(
            ErrorCode.INVALID_FRAME,
            f"invalid {frame_type!r} frame: {_describe(exc)}",
            request_id=request_id,
            message_id=message_id,
        ) from exc
    return frame


# Frames the server sends outside of streams (stream frames live in domain.stream).


def ready_frame(session_id: UUID) -> dict[str, Any]:
    return {"type": "ready", "session_id": str(session_id)}


def accepted_frame(
    request_id: str, conversation_id: UUID, message_id: UUID, prompt_message_id: UUID
) -> dict[str, Any]:
    return {
        "type": "accepted",
        "request_id": request_id,
        "conversation_id": str(conversation_id),
        "message_id": str(message_id),
        "prompt_message_id": str(prompt_message_id),
    }


def pong_frame() -> dict[str, Any]:
    return {"type": "pong"}


def error_frame(error: GatewayError) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": str(error.code), "message": error.message}
    if error.request_id is not None:
        frame["request_id"] = error.request_id
    if error.message_id is not None:
        frame["message_id"] = str(error.message_id)
    return frame
