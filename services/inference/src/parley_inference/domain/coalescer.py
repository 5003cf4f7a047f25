"""Coalescing token text into fewer, larger deltas (DESIGN section 9).

The first text goes out at once (time to first token is what people feel);
after that, text is held until `window` seconds have passed since the last
delta went out, then goes out as one delta. A token arriving after the
window already elapsed goes out at once too, and the caller flushes at the
`deadline` so that a slow trickle is never held longer than the window.

Pure: the caller passes the time (any monotonic clock, in seconds).
"""

from __future__ import annotations


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
