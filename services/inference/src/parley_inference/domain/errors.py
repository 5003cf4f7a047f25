"""Why a generation failed, as a stable code and a message for people."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes carried by `stream.failed` and `completion.failed`."""

    PROVIDER_REJECTED = "provider_rejected"
    """The provider refused the request (HTTP 4xx: bad key, unknown upstream model, bad parameters)."""
    PROVIDER_ERROR = "provider_error"
    """The provider failed (HTTP 5xx, an error in the stream, a stream cut short)."""
    PROVIDER_TIMEOUT = "provider_timeout"
    """The provider did not answer, or went silent, for longer than the configured timeout."""
    PROVIDER_UNREACHABLE = "provider_unreachable"
    """The provider could not be reached (connection refused, unknown host)."""
    PROVIDER_CUT_OFF = "provider_cut_off"
    """The provider's stream ended without a finish reason: the answer was cut off, not complete."""
    MODEL_NOT_FOUND = "model_not_found"
    """No model of that name in this worker's models file."""
    MODEL_UNAVAILABLE = "model_unavailable"
    """No worker takes requests for that model any more (it was removed or disabled)."""
    GENERATION_FAILED = "generation_failed"
    """Anything else, including a request that kept failing until it was dead-lettered."""


class GenerationError(Exception):
    """A generation cannot go on; `message` is shown to the person who asked."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProviderStreamError(GenerationError):
    """The provider sent an error object (or something malformed) inside its event stream;
    `detail` is what it said, for the worker's log only: it may name internal hosts."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(ErrorCode.PROVIDER_ERROR, message)
        self.detail = detail


def cut_off() -> GenerationError:
    return GenerationError(
        ErrorCode.PROVIDER_CUT_OFF,
        "The model provider ended the answer without finishing it (the stream was cut off).",
    )


def model_not_found(name: str, served: list[str]) -> GenerationError:
    available = ", ".join(served) if served else "none"
    return GenerationError(
        ErrorCode.MODEL_NOT_FOUND,
        f"The model {name!r} is not served here (available: {available}).",
    )
