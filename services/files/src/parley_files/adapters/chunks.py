"""A blob's bytes as an async iterator that lets go of its source (a file, a connection) at the
end, on a read error, or at `aclose()`, even before the first chunk: what `BlobStore.get` returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Chunks(ABC):
    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._read()
        except BaseException:
            await self.aclose()
            raise
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    @abstractmethod
    async def _read(self) -> bytes:
        """The next chunk; empty at the end."""

    @abstractmethod
    async def aclose(self) -> None: ...
