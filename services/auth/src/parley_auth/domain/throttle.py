"""Login throttling: too many failures for one account or from one address
within a window lock further attempts out until the oldest failure ages out."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from parley_auth.domain.errors import Throttled

Clock = Callable[[], float]


class FailureWindow:
    """Failures per key in a sliding window; `check` raises `Throttled` at the limit."""

    def __init__(self, limit: int, window_s: float, *, clock: Clock, what: str) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._what = what
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        horizon = self._clock() - self._window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def check(self, key: str) -> None:
        failures = self._recent(key)
        if len(failures) >= self._limit:
            wait = failures[len(failures) - self._limit] + self._window_s - self._clock()
            raise Throttled(
                f"too many failed logins for this {self._what}; try again later",
                retry_after_s=max(1, math.ceil(wait)),
            )

    def fail(self, key: str) -> None:
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    """Per account and per client address."""

    def __init__(self, *, per_account: int, per_ip: int, window_s: float, clock: Clock) -> None:
        self.accounts = FailureWindow(per_account, window_s, clock=clock, what="account")
        self.addresses = FailureWindow(per_ip, window_s, clock=clock, what="address")

    def check(self, account: str, address: str) -> None:
        self.addresses.check(address)
        self.accounts.check(account)

    def failed(self, account: str, address: str) -> None:
        self.accounts.fail(account)
        self.addresses.fail(address)

    def succeeded(self, account: str) -> None:
        self.accounts.clear(account)
