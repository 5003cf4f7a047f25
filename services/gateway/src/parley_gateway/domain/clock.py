"""Time as the domain sees it: a function returning monotonic seconds."""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]
