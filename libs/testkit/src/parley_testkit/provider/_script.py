"""What the fake provider answers, and what it saw."""

from __future__ import annotations

import time
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
    completed_at: float | None = None
    disconnected_at: float | None = None

    def complete(self) -> None:
        self.completed = True
        self.completed_at = time.monotonic()

    def overlaps(self, other: RecordedRequest) -> bool:
        """Whether the two were open at the same time (both must be complete)."""
        if self.completed_at is None or other.completed_at is None:
            raise ValueError("both requests must be complete")
        return self.received_at < other.completed_at and other.received_at < self.completed_at
