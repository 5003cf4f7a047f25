"""Blobs: the stored bytes of a file, under a key the service makes, and what can go
wrong with them. The metadata (name, content type, owner) lives elsewhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

from parley_files.domain.errors import FilesError

MAX_KEY_LENGTH = 512
"""Far below S3's 1024 bytes, and short enough for any file system's path limit."""

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    """In bytes."""
    sha256: str
    """Hex digest of the bytes, computed while they streamed in."""


class BlobError(FilesError):
    """Base of the blob store's errors."""


class BlobNotFound(BlobError):
    """No blob has this key (never stored, or deleted)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob {key!r}")
        self.key = key


class BlobTooLarge(BlobError):
    """The bytes went over the store's limit; nothing was kept of them."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"a blob may hold at most {max_bytes} bytes")
        self.max_bytes = max_bytes


def check_key(key: str) -> str:
    """`key` itself if it is safe both as an object key and as a relative path.

    Segments of letters, digits, `_`, `-` and `.` joined by single `/`: no absolute
    path, no `.` or `..` segment, no empty segment. A segment cannot start with a dot
    either, so a key never names a hidden file (the directory store keeps its partial
    uploads in those).
    """
    if len(key) > MAX_KEY_LENGTH or ".." in key or not _KEY.fullmatch(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key
