"""The small interfaces the use cases need; adapters implement them, tests use them."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from parley_files.domain.blobs import StoredBlob


class BlobStream(Protocol):
    """The bytes of one blob, chunk by chunk (an `AsyncIterator[bytes]`). It holds a file
    or a connection until read to the end; whoever stops early calls `aclose()`."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def aclose(self) -> None: ...


class BlobStore(Protocol):
    """Where the bytes of uploads live: a directory (the embedded default) or S3.

    Keys are made by the service (`<user>/<file id>`); every method refuses a key that
    `domain.blobs.check_key` refuses with `ValueError`.
    """

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> StoredBlob:
        """Store the chunks under `key`, replacing any blob there, without holding them
        all in memory. Raises `BlobTooLarge` past the store's limit; on that or any
        other error, nothing of these chunks is kept and a blob already there stays."""
        ...

    async def get(self, key: str) -> BlobStream:
        """Raises `BlobNotFound` here, before any byte, so the caller can still answer 404."""
        ...

    async def delete(self, key: str) -> None:
        """Deleting a missing blob is not an error: a retried delete succeeds."""
        ...

    async def close(self) -> None: ...
