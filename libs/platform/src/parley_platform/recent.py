"""Keys seen lately, for dropping what comes again (a late or repeated event, a cancel
that came first): each is kept for `for_s` seconds after it was last added, and at most
the `at_most` latest, so that the memory is bounded however long the process runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Recent(Generic[K]):
    __slots__ = ("_added", "_at_most", "_clock", "_for_s")

    def __init__(
        self, *, for_s: float, at_most: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._for_s = for_s
        self._at_most = at_most
        self._clock = clock
        self._added: dict[K, float] = {}  # when each was added, oldest first

    def add(self, key: K) -> None:
        now = self._clock()
        self._added.pop(key, None)
        self._added[key] = now
        horizon = now - self._for_s
        while self._added:
            oldest, added_at = next(iter(self._added.items()))
            if added_at > horizon and (self._at_most is None or len(self._added) <= self._at_most):
                return
            del self._added[oldest]

    def __contains__(self, key: object) -> bool:
        added_at = self._added.get(key)  # type: ignore[arg-type]
        return added_at is not None and added_at > self._clock() - self._for_s

    def take(self, key: K) -> bool:
        """Whether `key` was seen lately; forgets it."""
        added_at = self._added.pop(key, None)
        return added_at is not None and added_at > self._clock() - self._for_s

    def __len__(self) -> int:
        return len(self._added)
