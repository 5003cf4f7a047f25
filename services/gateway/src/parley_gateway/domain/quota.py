"""Users over their token budget, as the auth service announces them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parley_gateway.domain.clock import Clock


@dataclass(frozen=True)
class _Announced:
    at: datetime
    """When auth announced it (the event's `occurred_at`)."""
    blocked: bool
    lapses: float
    """On this gateway's clock."""


class BlockedUsers:
    """The users whose prompts are refused (`quota_exceeded`).

    Built from `quota.exceeded` / `quota.restored` events only, in any order: an announcement
    older than the last one applied for its user is ignored (the broker does not promise the
    order in which one queue's messages are handled). The auth service re-announces every
    current block periodically, so a gateway started later converges; and what is not
    re-announced within `ttl_s` lapses, so that a `quota.restored` lost while this gateway was
    cut off from the broker does not block a user for good.
    """

    def __init__(self, *, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._users: dict[str, _Announced] = {}

    def block(self, user_id: str, at: datetime) -> None:
        self._announce(user_id, at, blocked=True)

    def unblock(self, user_id: str, at: datetime) -> None:
        self._announce(user_id, at, blocked=False)

    def _announce(self, user_id: str, at: datetime, *, blocked: bool) -> None:
        now = self._clock()
        known = self._users.get(user_id)
        if known is not None and known.lapses > now and at < known.at:
            return
        self._users[user_id] = _Announced(at, blocked, now + self._ttl_s)

    def __contains__(self, user_id: object) -> bool:
        if not isinstance(user_id, str):
            return False
        known = self._users.get(user_id)
        if known is None:
            return False
        if known.lapses <= self._clock():
            del self._users[user_id]
            return False
        return known.blocked

    def __len__(self) -> int:
        now = self._clock()
        return sum(1 for known in self._users.values() if known.blocked and known.lapses > now)
