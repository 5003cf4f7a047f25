"""Coalescing token text into fewer, larger deltas (docs/architecture.md section 9).

The first text goes out at once (time to first token is what people feel);
after that, text is held until `window` seconds have passed since the last
delta went out, then goes out as one delta. A token arriving after the
window already elapsed goes out at once too, and the caller flushes at the
`deadline` so that a slow trickle is never held longer than the window.

Under load the window widens (`WindowPolicy`): every delta costs the broker,
the gateway and the client a message, and a busy worker's text going out
ten times a second instead of twenty keeps the first token (always at once)
and the throughput where they are while the pipeline does half the work.

Pure: the caller passes the time (any monotonic clock, in seconds).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """The coalescing window for a worker holding `running` generations:
    `base_s` up to `busy_at` of them, then growing in proportion to them, up
    to `most_s`."""

    base_s: float
    most_s: float
    busy_at: int

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.most_s < self.base_s:
            raise ValueError("the coalescing window must satisfy 0 <= base <= most")
        if self.busy_at < 1:
            raise ValueError("busy_at must be at least 1")

    def window(self, running: int) -> float:
        if running <= self.busy_at:
            return self.base_s
        return min(self.base_s * running / self.busy_at, self.most_s)


class Coalescer:
    __slots__ = ("_last_flush", "_pending", "_started", "window")

    def __init__(self, window: float) -> None:
        if window < 0:
            raise ValueError("the coalescing window cannot be negative")
        self.window = window
        self._pending: list[str] = []
        self._last_flush = 0.0
        self._started = False

    @property
    def pending(self) -> str:
        return "".join(self._pending)

    @property
    def deadline(self) -> float | None:
        """When the held text must go out, or None when nothing is held."""
        return self._last_flush + self.window if self._pending else None

    def push(self, text: str, now: float) -> str | None:
        """Add text; returns the text to publish now, or None to hold it."""
        if not text:
            return None
        self._pending.append(text)
        if not self._started or now - self._last_flush >= self.window:
            self._started = True
            return self.flush(now)
        return None

    def due(self, now: float) -> str | None:
        """The held text if its deadline has come, else None."""
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            return self.flush(now)
        return None

    def flush(self, now: float) -> str | None:
        """Everything held, whatever the time (end of stream, cancel)."""
        if not self._pending:
            return None
        text = self._pending[0] if len(self._pending) == 1 else "".join(self._pending)
        self._pending.clear()
        self._last_flush = now
        return text
