"""Per-user limits: prompts per minute and concurrent generations.

Each gateway process keeps its own counts, from the prompts it accepts and
from those every other gateway accepted (`observe`, `add`), keyed by message
id so that a prompt is counted once wherever it is learned of first. The clock
is injected so that the tests need no sleeping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from uuid import UUID

from parley_gateway.domain.clock import Clock
from parley_platform.recent import Recent

_SWEEP_EVERY = 1024


def _at_least_one(name: str, value: int) -> int:
    """A limit's value, refused when it would allow nothing."""
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


@dataclass
class _Window:
    stamps: deque[tuple[float, UUID]] = field(default_factory=deque)
    ids: set[UUID] = field(default_factory=set)

    def expire(self, horizon: float) -> None:
        while self.stamps and self.stamps[0][0] <= horizon:
            self.ids.discard(self.stamps.popleft()[1])

    def add(self, now: float, message_id: UUID) -> None:
        self.stamps.append((now, message_id))
        self.ids.add(message_id)


class PromptRateLimiter:
    """A sliding window: at most `per_window` prompts per user in any `window_s`.

    A prompt counts from when this process learns of it: at once for its own,
    on arrival for another gateway's (clocks of different processes are not
    compared).
    """

    def __init__(self, per_window: int, *, clock: Clock, window_s: float = 60.0) -> None:
        self._limit = _at_least_one("per_window", per_window)
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._calls = 0

    def try_acquire(self, user_id: str, message_id: UUID) -> float | None:
        """Take one prompt; None when allowed (or already counted), else the seconds until one is."""
        window = self._window(user_id)
        if message_id in window.ids:
            return None
        now = self._clock()
        if len(window.stamps) >= self._limit:
            return max(window.stamps[0][0] + self._window_s - now, 0.0)
        window.add(now, message_id)
        return None

    def wait(self, user_id: str) -> float | None:
        """What `try_acquire` would answer now, taking nothing: None, or the seconds to wait."""
        window = self._window(user_id)
        if len(window.stamps) < self._limit:
            return None
        return max(window.stamps[0][0] + self._window_s - self._clock(), 0.0)

    def observe(self, user_id: str, message_id: UUID) -> None:
        """Count a prompt accepted elsewhere (or this one's, seen again), whatever the limit."""
        window = self._window(user_id)
        if message_id not in window.ids:
            window.add(self._clock(), message_id)

    def refund(self, user_id: str, message_id: UUID) -> None:
        """Give back a prompt that was never submitted."""
        window = self._windows.get(user_id)
        if window is None or message_id not in window.ids:
            return
        window.ids.discard(message_id)
        window.stamps = deque(stamp for stamp in window.stamps if stamp[1] != message_id)

    def used(self, user_id: str) -> int:
        window = self._windows.get(user_id)
        if window is None:
            return 0
        window.expire(self._clock() - self._window_s)
        return len(window.stamps)

    def _window(self, user_id: str) -> _Window:
        now = self._clock()
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep(now)
        window = self._windows.setdefault(user_id, _Window())
        window.expire(now - self._window_s)
        return window

    def _sweep(self, now: float) -> None:
        for user_id in list(self._windows):
            window = self._windows[user_id]
            window.expire(now - self._window_s)
            if not window.stamps:
                del self._windows[user_id]

    def __len__(self) -> int:
        return len(self._windows)


@dataclass
class _Lease:
    started_at: float


_LATE_ADD_S = 60.0
"""How long a generation seen ending takes no slot when it is learned of again."""


class GenerationLimiter:
    """At most `max_per_user` generations running per user.

    A generation holds its slot from `try_start` (or `add`, for one learned
    on resume) until `finish`. A slot whose end was never seen (the socket
    went away and the gateway never learns of it) expires after `lease_s`.
    A generation that ended is not counted again when its prompt is learned
    of late: this gateway may relay an answer's end before its own feed of
    events brings the prompt (the outcome then follows it there).
    """

    def __init__(self, max_per_user: int, *, clock: Clock, lease_s: float) -> None:
        self._limit = _at_least_one("max_per_user", max_per_user)
        self._clock = clock
        self._lease_s = lease_s
        self._running: dict[str, dict[UUID, _Lease]] = {}
        self._ended: Recent[UUID] = Recent(for_s=_LATE_ADD_S, clock=clock)

    def try_start(self, user_id: str, message_id: UUID) -> bool:
        leases = self._live(user_id)
        if message_id in leases:
            return True
        if len(leases) >= self._limit:
            return False
        leases[message_id] = _Lease(self._clock())
        return True

    def add(self, user_id: str, message_id: UUID) -> None:
        """Count a generation that is already running, whatever the limit: one
        learned on resume, or accepted by another gateway."""
        if message_id in self._ended:
            return
        self._live(user_id).setdefault(message_id, _Lease(self._clock()))

    def finish(self, user_id: str, message_id: UUID) -> None:
        self._ended.add(message_id)
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


class EventWindow:
    """At most `limit` events per key in any `window_s` (resumes per user, per socket)."""

    def __init__(self, limit: int, *, clock: Clock, window_s: float = 60.0) -> None:
        self._limit = _at_least_one("limit", limit)
        self._window_s = window_s
        self._clock = clock
        self._stamps: dict[str, deque[float]] = {}
        self._calls = 0

    def try_take(self, key: str) -> float | None:
        """Count one event; None when allowed, else the seconds until one is."""
        now = self._clock()
        stamps = self._stamps.setdefault(key, deque())
        while stamps and stamps[0] <= now - self._window_s:
            stamps.popleft()
        if len(stamps) >= self._limit:
            return max(stamps[0] + self._window_s - now, 0.0)
        stamps.append(now)
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._sweep(now)
        return None

    def _sweep(self, now: float) -> None:
        for key in [k for k, s in self._stamps.items() if not s or s[-1] <= now - self._window_s]:
            del self._stamps[key]
