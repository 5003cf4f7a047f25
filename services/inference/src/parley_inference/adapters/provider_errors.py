"""A provider's failures as a generation's errors: people see the model's name and a stable
code; the provider's address and what it said go to the log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import httpx2
import openai

from parley_inference.adapters.egress_transport import aiohttp_cause, refusal
from parley_inference.domain.errors import ErrorCode, GenerationError, ProviderStreamError

log = logging.getLogger(__name__)

_DETAIL_LIMIT = 200


@dataclass(frozen=True)
class ProviderTimeouts:
    connect_s: float = 5.0
    read_s: float = 60.0
    """Waiting for the first byte, and the longest silence between chunks."""
    write_s: float = 10.0
    pool_s: float = 10.0


def _detail(body: object, fallback: str) -> str:
    message: object = None
    if isinstance(body, Mapping):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, Mapping) else error
    text = str(message) if message else fallback
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _unreachable(model: str) -> GenerationError:
    return GenerationError(ErrorCode.PROVIDER_UNREACHABLE, f"The model {model!r} cannot be reached.")


def _connection_error(exc: BaseException, *, model: str) -> GenerationError | None:
    """The SDK's aiohttp transport maps every aiohttp connection error that is
    not a timeout (a refused connection, a server that hung up) to httpx2's
    `ConnectTimeout`: tell them apart by the aiohttp error underneath."""
    cause = aiohttp_cause(exc)
    if cause is None or isinstance(cause, aiohttp.ServerTimeoutError):
        return None  # timeouts are mapped right (connect, read) by the transport
    if isinstance(cause, aiohttp.ClientConnectorError):
        return _unreachable(model)
    if isinstance(exc, openai.APIConnectionError):
        return GenerationError(
            ErrorCode.PROVIDER_ERROR, "The model provider closed the connection before answering."
        )
    return GenerationError(
        ErrorCode.PROVIDER_ERROR, "The model provider broke off the answer (connection lost)."
    )


def log_detail(exc: BaseException) -> str:
    """What the worker's log says about a provider failure: the provider's own words (its
    error body, trimmed), or the error underneath. Not for people: it may name internal hosts."""
    refused = refusal(exc)
    if refused is not None:
        return f"egress refused: {refused}"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_detail(exc.body, exc.message)}"
    if isinstance(exc, ProviderStreamError):
        return f"{exc.message} {exc.detail}".strip()
    parts: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(parts) < 4:
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return " <- ".join(parts)


def map_provider_error(exc: BaseException, *, model: str, timeouts: ProviderTimeouts) -> GenerationError:
    """A stable code and a message for people, for anything the SDK or the
    stream raised, naming the model (`model`, as users pick it). Never a stack
    trace, the provider's address or what it answered (see `log_detail`)."""
    if isinstance(exc, ProviderStreamError):
        return GenerationError(exc.code, f"The model {model!r} failed while answering.")
    if isinstance(exc, GenerationError):
        return exc
    if refusal(exc) is not None:
        return _unreachable(model)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if 400 <= status < 500:
            return GenerationError(
                ErrorCode.PROVIDER_REJECTED, f"The model {model!r} refused the request (HTTP {status})."
            )
        return GenerationError(ErrorCode.PROVIDER_ERROR, f"The model {model!r} failed (HTTP {status}).")
    connection_error = _connection_error(exc, model=model)
    if connection_error is not None:
        return connection_error
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        cause = exc.__cause__ if isinstance(exc, openai.APITimeoutError) else exc
        if isinstance(cause, httpx2.ConnectTimeout):
            return GenerationError(
                ErrorCode.PROVIDER_TIMEOUT,
                f"The model {model!r} did not accept a connection within {timeouts.connect_s:g} s.",
            )
        return GenerationError(
            ErrorCode.PROVIDER_TIMEOUT,
            f"The model provider did not answer within {timeouts.read_s:g} s.",
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if cause is None or isinstance(cause, httpx2.ConnectError):
            return _unreachable(model)
        return GenerationError(
            ErrorCode.PROVIDER_ERROR, "The model provider closed the connection before answering."
        )
    if isinstance(exc, httpx2.TransportError):
        return GenerationError(
            ErrorCode.PROVIDER_ERROR, "The model provider broke off the answer (connection lost)."
        )
    if isinstance(exc, openai.OpenAIError):
        return GenerationError(ErrorCode.PROVIDER_ERROR, f"The model {model!r} failed.")
    return GenerationError(ErrorCode.GENERATION_FAILED, "The answer could not be generated.")
