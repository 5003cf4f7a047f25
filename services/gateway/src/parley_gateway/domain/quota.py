"""Users over their token budget, as the auth service announces them."""

from __future__ import annotations

from parley_gateway.domain.clock import Clock


class BlockedUsers:
    """The users whose prompts are refused (`quota_exceeded`).

    Built from `quota.exceeded` / `quota.restored` events only. The auth
    service re-announces every current block periodically, so a gateway
    started later converges; and a block that is not re-announced within
    `ttl_s` lapses, so that a `quota.restored` lost while this gateway was
    cut off from the broker does not block a user for good.
    """

    def __init__(self, *, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._until: dict[str, float] = {}

    def block(self, user_id: str) -> None:
        self._until[user_id] = self._clock() + self._ttl_s

    def unblock(self, user_id: str) -> None:
        self._until.pop(user_id, None)

    def __contains__(self, user_id: object) -> bool:
        if not isinstance(user_id, str):
            return False
        until = self._until.get(user_id)
        if until is None:
            return False
        if until <= self._clock():
            del self._until[user_id]
            return False
        return True

    def __len__(self) -> int:
        now = self._clock()
        return sum(1 for until in self._until.values() if until > now)
