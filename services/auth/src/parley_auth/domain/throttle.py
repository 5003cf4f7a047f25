"""Throttling: failed logins and API-key exchanges, and registrations, counted in sliding
windows. A key whose window is full waits until its oldest entry ages out.

Failed logins count per (account, address) and per address, never per account alone: five
wrong passwords from anywhere must not lock the account's owner out. Key exchanges have
buckets of their own, so that failing keys do not block logins from the same address."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from parley_auth.domain.errors import Throttled

Clock = Callable[[], float]


class FailureWindow:
    """Entries per key in a sliding window; `check` raises `Throttled` at the limit."""

    def __init__(self, limit: int, window_s: float, *, clock: Clock, refusal: str) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._refusal = refusal
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
            raise Throttled(self._refusal, retry_after_s=max(1, math.ceil(wait)))

    def fail(self, key: str) -> None:
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    """Failed logins per (account, client address) and per client address; and wrong current
    passwords of a signed-in account (a stolen token must not make a password oracle)."""

    def __init__(self, *, per_account: int, per_ip: int, window_s: float, clock: Clock) -> None:
        refusal = "too many failed logins from this address; try again later"
        self.pairs = FailureWindow(per_account, window_s, clock=clock, refusal=refusal)
        self.addresses = FailureWindow(per_ip, window_s, clock=clock, refusal=refusal)
        self.confirmations = FailureWindow(
            per_account, window_s, clock=clock, refusal="too many wrong passwords; try again later"
        )

    def check(self, account: str, address: str) -> None:
        self.addresses.check(address)
        self.pairs.check(_pair(account, address))

    def failed(self, account: str, address: str) -> None:
        self.pairs.fail(_pair(account, address))
        self.addresses.fail(address)

    def succeeded(self, account: str, address: str) -> None:
        self.pairs.clear(_pair(account, address))


class KeyThrottle:
    """Failed API-key exchanges per client address and per key prefix (the first characters
    a key shows in its owner's list)."""

    def __init__(self, *, per_ip: int, per_prefix: int, window_s: float, clock: Clock) -> None:
        refusal = "too many failed API key exchanges; try again later"
        self.addresses = FailureWindow(per_ip, window_s, clock=clock, refusal=refusal)
        self.prefixes = FailureWindow(per_prefix, window_s, clock=clock, refusal=refusal)

    def check(self, prefix: str, address: str) -> None:
        self.addresses.check(address)
        self.prefixes.check(prefix)

    def failed(self, prefix: str, address: str) -> None:
        self.addresses.fail(address)
        self.prefixes.fail(prefix)


class RegistrationThrottle:
    """Registrations per client address, failed or not."""

    def __init__(self, *, per_ip: int, window_s: float, clock: Clock) -> None:
        refusal = "too many registrations from this address; try again later"
        self.addresses = FailureWindow(per_ip, window_s, clock=clock, refusal=refusal)

    def admit(self, address: str) -> None:
        """Count an attempt from `address`, or raise `Throttled` when its window is full."""
        self.addresses.check(address)
        self.addresses.fail(address)


def _pair(account: str, address: str) -> str:
    return f"{account}\x00{address}"
