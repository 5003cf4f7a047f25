"""What the fake provider answers, and what it saw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKENS: tuple[str, ...] = ("Hello", " from", " the", " fake", " provider", ".")


@dataclass
class Script:
    """How the fake provider answers one chat-completions request."""

    tokens: list[str] = field(default_factory=lambda: list(DEFAULT_TOKENS))
    delay_s: float = 0.0
    first_delay_s: float = 0.0
    status: int = 200
    hang: bool = False
    include_usage: bool = True
    finish_reason: str = "stop"


def default_script(_body: dict[str, Any]) -> Script:
    return Script()


@dataclass
class RecordedRequest:
    """One chat-completions request, updated live by the server thread.

    `headers` keys are lower-cased. `completed` means the whole response was
    written (error responses included); `disconnected_at` (time.monotonic) is
    set when the client went away before that.
    """

    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float
    tokens_sent: int = 0
    completed: bool = False
    disconnected_at: float | None = None
