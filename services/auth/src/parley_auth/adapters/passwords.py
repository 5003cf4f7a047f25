"""Argon2id password hashes (argon2-cffi), rehashed on login when the parameters change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from parley_auth.domain.errors import Throttled
from parley_auth.ports import PasswordHasher as PasswordHasherPort


class Argon2Hasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # A hash to verify against when the account does not exist, so that timing does not tell.
        self._dummy = self._hasher.hash("parley-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(
            self._verify, password_hash or self._dummy, password, password_hash is not None
        )

    def _verify(self, password_hash: str, password: str, real: bool) -> bool:
        try:
            return self._hasher.verify(password_hash, password) and real
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


class BoundedHasher:
    """A hasher that computes at most `concurrency` hashes at once and lets at most `queue_max`
    more wait; one more is refused (`Throttled`, so 429 with `Retry-After`). Each Argon2id hash
    holds `argon2_memory_kib` of memory: a burst of logins or registrations must not take the
    process's memory, whoever sends it."""

    def __init__(self, inner: PasswordHasherPort, *, concurrency: int, queue_max: int) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(concurrency)
        self._admitted = 0
        self._limit = concurrency + queue_max

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._admitted >= self._limit:
            raise Throttled("the service is busy checking passwords; try again shortly", retry_after_s=1)
        self._admitted += 1
        try:
            async with self._slots:
                yield
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        async with self._turn():
            return await self._inner.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._turn():
            return await self._inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)
