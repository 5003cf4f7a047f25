"""Who is on a socket, and when to refetch the signing keys."""

from __future__ import annotations

from dataclasses import dataclass

from parley_gateway.domain.clock import Clock


@dataclass(frozen=True)
class Principal:
    """The subject of a verified access token."""

    user_id: str
    role: str
    expires_at: float
    """The token's `exp`, in seconds since the epoch."""


class RefetchPolicy:
    """When to fetch the JWKS again: always the first time, then on an unknown
    `kid` at most once per `floor_s` (a flood of made-up kids cannot hammer
    the auth service)."""

    def __init__(self, floor_s: float, *, clock: Clock) -> None:
        self._floor_s = floor_s
        self._clock = clock
        self._last: float | None = None

    def may_fetch(self) -> bool:
        return self._last is None or self._clock() - self._last >= self._floor_s

    def fetched(self) -> None:
        self._last = self._clock()
