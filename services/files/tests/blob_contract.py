"""What every `BlobStore` does, written once: `tests/integration/test_blobs.py` runs it
against the directory store and the S3 store (fixture `case`)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from parley_files.domain.blobs import BlobNotFound, BlobTooLarge, StoredBlob
from parley_files.ports import BlobStore

MiB = 1 << 20
LIMIT = 13 * MiB
"""`max_bytes` of the stores under test."""
ODD_CHUNK = 1_000_003
"""Source chunks that line up with no part size."""


@dataclass
class StoreCase:
    store: BlobStore
    leftovers: Callable[[], list[str]]
    """Everything the backend holds, sorted: blobs by key, and anything else (a temp
    file, an unfinished multipart upload) under a name that is not a key."""


async def chunks(data: bytes, size: int = ODD_CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def failing_after(data: bytes) -> AsyncIterator[bytes]:
    async for chunk in chunks(data):
        yield chunk
    raise ConnectionResetError("the client went away")


async def read_all(store: BlobStore, key: str) -> tuple[bytes, int]:
    """The blob and the number of chunks it came in."""
    stream = await store.get(key)
    parts = [chunk async for chunk in stream]
    return b"".join(parts), len(parts)


class BlobStoreContract:
    @pytest.mark.parametrize("size", [0, 1, 12 * MiB, LIMIT], ids=["empty", "1-byte", "12MiB", "limit"])
    async def test_round_trip(self, case: StoreCase, size: int) -> None:
        data = os.urandom(size)

        stored = await case.store.put("u1/f1", chunks(data), content_type="application/octet-stream")

        assert stored == StoredBlob(key="u1/f1", size=size, sha256=hashlib.sha256(data).hexdigest())
        back, count = await read_all(case.store, "u1/f1")
        assert hashlib.sha256(back).hexdigest() == stored.sha256
        assert (count == 0) == (size == 0)
        assert count > 1 or size < MiB, "a large blob comes back in chunks, not whole"
        assert case.leftovers() == ["u1/f1"]

    async def test_put_replaces_the_blob_under_the_key(self, case: StoreCase) -> None:
        await case.store.put("u1/f1", chunks(b"old"), content_type="text/plain")
        await case.store.put("u1/f1", chunks(b"new!"), content_type="text/plain")

        assert await read_all(case.store, "u1/f1") == (b"new!", 1)
        assert case.leftovers() == ["u1/f1"]

    async def test_get_of_a_missing_key_is_not_found(self, case: StoreCase) -> None:
        with pytest.raises(BlobNotFound) as caught:
            await case.store.get("u1/never")
        assert caught.value.key == "u1/never"

    async def test_delete_is_idempotent(self, case: StoreCase) -> None:
        await case.store.put("u1/f1", chunks(b"x"), content_type="text/plain")

        await case.store.delete("u1/f1")
        await case.store.delete("u1/f1")
        await case.store.delete("u2/never")

        with pytest.raises(BlobNotFound):
            await case.store.get("u1/f1")
        assert case.leftovers() == []

    async def test_a_put_over_the_limit_keeps_nothing(self, case: StoreCase) -> None:
        await case.store.put("u1/kept", chunks(b"before"), content_type="text/plain")

        with pytest.raises(BlobTooLarge) as caught:
            await case.store.put("u1/big", chunks(os.urandom(LIMIT + 1)), content_type="text/plain")
        with pytest.raises(BlobTooLarge):
            await case.store.put("u1/kept", chunks(os.urandom(LIMIT + 1)), content_type="text/plain")

        assert caught.value.max_bytes == LIMIT
        assert case.leftovers() == ["u1/kept"]
        assert await read_all(case.store, "u1/kept") == (b"before", 1)

    async def test_a_failing_source_keeps_nothing(self, case: StoreCase) -> None:
        with pytest.raises(ConnectionResetError):
            await case.store.put("u1/f1", failing_after(os.urandom(11 * MiB)), content_type="text/plain")
        with pytest.raises(ConnectionResetError):
            await case.store.put("u1/f2", failing_after(b"small"), content_type="text/plain")

        assert case.leftovers() == []

    async def test_a_cancelled_put_keeps_nothing(self, case: StoreCase) -> None:
        stalled = asyncio.Event()

        async def stalling() -> AsyncIterator[bytes]:
            async for chunk in chunks(os.urandom(6 * MiB)):
                yield chunk
            stalled.set()  # the store asked for more, after sending what it had
            await asyncio.Event().wait()
            yield b"never"

        put = asyncio.create_task(case.store.put("u1/f1", stalling(), content_type="text/plain"))
        await stalled.wait()
        put.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put

        assert case.leftovers() == []

    @pytest.mark.parametrize("key", ["", "/etc/passwd", "../up", "u1/../../up", "u1//f", ".hidden", "u 1/f"])
    async def test_a_bad_key_is_refused(self, case: StoreCase, key: str) -> None:
        with pytest.raises(ValueError, match="not a blob key"):
            await case.store.put(key, chunks(b"x"), content_type="text/plain")
        with pytest.raises(ValueError, match="not a blob key"):
            await case.store.get(key)
        with pytest.raises(ValueError, match="not a blob key"):
            await case.store.delete(key)
        assert case.leftovers() == []

    async def test_concurrent_puts_of_different_keys(self, case: StoreCase) -> None:
        blobs = {f"u{n % 3}/f{n}": os.urandom(300_000 + n) for n in range(8)}

        stored = await asyncio.gather(
            *(
                case.store.put(key, chunks(data, 65_536), content_type="text/plain")
                for key, data in blobs.items()
            )
        )

        assert [blob.size for blob in stored] == [len(data) for data in blobs.values()]
        for key, data in blobs.items():
            assert (await read_all(case.store, key))[0] == data
        assert case.leftovers() == sorted(blobs)

    async def test_concurrent_puts_of_one_key_leave_one_whole_blob(self, case: StoreCase) -> None:
        first, second = os.urandom(6 * MiB), os.urandom(6 * MiB)

        await asyncio.gather(
            case.store.put("u1/f1", chunks(first), content_type="text/plain"),
            case.store.put("u1/f1", chunks(second), content_type="text/plain"),
        )

        assert (await read_all(case.store, "u1/f1"))[0] in {first, second}
        assert case.leftovers() == ["u1/f1"]

    async def test_a_stream_can_be_closed_before_its_end(self, case: StoreCase) -> None:
        await case.store.put("u1/f1", chunks(os.urandom(3 * MiB)), content_type="text/plain")

        unread = await case.store.get("u1/f1")
        await unread.aclose()
        started = await case.store.get("u1/f1")
        assert len(await anext(started)) > 0
        await started.aclose()
        await case.store.delete("u1/f1")

        assert case.leftovers() == []
