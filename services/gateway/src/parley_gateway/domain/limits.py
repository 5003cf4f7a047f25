"""Per-user limits: prompts per minute and concurrent generations.

Both are per gateway process (the limits of DESIGN section 4 at the edge);
the clock is injected so that the tests need no sleeping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from uuid import UUID

from parley_gateway.domain.clock import Clock

_SWEEP_EVERY = 1024


class PromptRateLimiter:
    """A sliding window: at most `per_window` prompts per user in any `window_s`."""

    def __init__(self, per_window: int, *, clock: Clock, window_s: float = 60.0) -> None:
        if per_window < 1:
            raise ValueError("per_window must be at least 1")
        self._limit = per_window
        self._window_s = window_s
        self._clock = clock
        self._stamps: dict[str, deque[float]] = {}
        self._calls = 0

    def try_acquire(self, user_id: str) -> float | None:
        """Take one prompt; None when allowed, else the seconds until one is."""
        now = self._clock()
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep(now)
        stamps = self._stamps.setdefault(user_id, deque())
        self._expire(stamps, now)
        if len(stamps) >= self._limit:
            return max(stamps[0] + self._window_s - now, 0.0)
        stamps.append(now)
        return None

    def refund(self, user_id: str) -> None:
        """Give back the latest prompt (it was never submitted)."""
        stamps = self._stamps.get(user_id)
        if stamps:
            stamps.pop()

    def used(self, user_id: str) -> int:
        stamps = self._stamps.get(user_id)
        if not stamps:
            return 0
        self._expire(stamps, self._clock())
        return len(stamps)

    def _expire(self, stamps: deque[float], now: float) -> None:
        horizon = now - self._window_s
        while stamps and stamps[0] <= horizon:
            stamps.popleft()

    def _sweep(self, now: float) -> None:
        for user_id in list(self._stamps):
            stamps = self._stamps[user_id]
            self._expire(stamps, now)
            if not stamps:
                del self._stamps[user_id]

    def __len__(self) -> int:
        return len(self._stamps)


@dataclass
class _Lease:
    started_at: float


class GenerationLimiter:
    """At most `max_per_user` generations running per user.

    A generation holds its slot from `try_start` (or `add`, for one learned
    on resume) until `finish`. A slot whose end was never seen (the socket
    went away and the gateway never learns of it) expires after `lease_s`.
    """

    def __init__(self, max_per_user: int, *, clock: Clock, lease_s: float) -> None:
        if max_per_user < 1:
            raise ValueError("max_per_user must be at least 1")
        self._limit = max_per_user
        self._clock = clock
        self._lease_s = lease_s
        self._running: dict[str, dict[UUID, _Lease]] = {}

    def try_start(self, user_id: str, message_id: UUID) -> bool:
        leases = self._live(user_id)
        if message_id in leases:
            return True
        if len(leases) >= self._limit:
            return False
        leases[message_id] = _Lease(self._clock())
        return True

    def add(self, user_id: str, message_id: UUID) -> None:
        """Count a generation that is already running, whatever the limit."""
        self._live(user_id).setdefault(message_id, _Lease(self._clock()))

    def finish(self, user_id: str, message_id: UUID) -> None:
        leases = self._running.get(user_id)
        if leases is None:
            return
        leases.pop(message_id, None)
        if not leases:
            del self._running[user_id]

    def active(self, user_id: str) -> int:
        count = len(self._live(user_id))
        if count == 0:
            self._running.pop(user_id, None)
        return count

    @property
    def limit(self) -> int:
        return self._limit

    def _live(self, user_id: str) -> dict[UUID, _Lease]:
        leases = self._running.setdefault(user_id, {})
        horizon = self._clock() - self._lease_s
        for message_id in [m for m, lease in leases.items() if lease.started_at <= horizon]:
            del leases[message_id]
        return leases
