"""The embedded blob store: one file per blob under a root directory, for `make dev`
and single-machine installs. The key is the path below the root."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import BinaryIO

from parley_files.adapters.chunks import Chunks
from parley_files.domain.blobs import BlobNotFound, BlobTooLarge, StoredBlob, check_key

CHUNK_SIZE = 1 << 20


class DirBlobStore:
    """Blobs as files under `root`, each written to a hidden temp file beside it, synced,
    then renamed over the old one: a reader sees the whole old blob or the whole new one.

    File I/O runs in worker threads. A key cannot also be the folder of another key
    (`a` and `a/b`): the service's keys all have the same depth. Folders emptied by
    `delete` stay; removing them would race with a put into the same folder.
    `content_type` is not kept: the service stores it with the file's other metadata.
    """

    def __init__(self, root: Path, *, max_bytes: int, chunk_size: int = CHUNK_SIZE) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._chunk_size = chunk_size

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> StoredBlob:
        path = self._path(key)
        file, temp = await asyncio.to_thread(_open_temp, path)
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self._max_bytes:
                    raise BlobTooLarge(self._max_bytes)
                digest.update(chunk)
                await asyncio.to_thread(file.write, chunk)
            await asyncio.to_thread(_commit, file, temp, path)
        except BaseException:
            # Inline, not in a thread: it is quick, and must happen even when cancelled.
            file.close()
            temp.unlink(missing_ok=True)
            raise
        return StoredBlob(key=key, size=size, sha256=digest.hexdigest())

    async def get(self, key: str) -> _FileChunks:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        return _FileChunks(file, self._chunk_size)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            await asyncio.to_thread(path.unlink)

    async def close(self) -> None:
        """Nothing to release: every file is closed when its call ends."""

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)


class _FileChunks(Chunks):
    """The chunks of an open file, read in a worker thread."""

    def __init__(self, file: BinaryIO, chunk_size: int) -> None:
        self._file = file
        self._chunk_size = chunk_size

    async def _read(self) -> bytes:
        return await asyncio.to_thread(self._file.read, self._chunk_size)

    async def aclose(self) -> None:
        self._file.close()


def _open_temp(path: Path) -> tuple[BinaryIO, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    return os.fdopen(fd, "wb"), Path(name)


def _commit(file: BinaryIO, temp: Path, path: Path) -> None:
    """Make the blob durable before it is visible, and its name durable after."""
    with file:
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
