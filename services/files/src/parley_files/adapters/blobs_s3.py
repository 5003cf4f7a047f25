"""The production blob store: a bucket of any S3-compatible server (AWS, MinIO, Ceph,
R2...) through aiobotocore, uploads streamed as multipart uploads."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from parley_files.adapters.chunks import Chunks
from parley_files.domain.blobs import BlobNotFound, BlobTooLarge, StoredBlob, check_key

if TYPE_CHECKING:
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.literals import BucketLocationConstraintType
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

MIN_PART_SIZE = 5 << 20
"""S3's least size of a part, the last one excepted."""
PART_SIZE = 8 << 20
CHUNK_SIZE = 1 << 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3Location:
    endpoint_url: str
    region: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    path_style: bool = True
    """`endpoint/bucket/key` rather than `bucket.endpoint/key`: what MinIO and most
    self-hosted servers need."""


class S3BlobStore:
    """Blobs as objects of one bucket. A blob smaller than a part goes up in one
    `put_object`; a larger one in parts of `part_size` bytes (one part in memory at a
    time), and the upload is aborted on any error. An upload left behind by a killed
    process is not seen by readers; a lifecycle rule on the bucket
    (AbortIncompleteMultipartUpload) reclaims its space."""

    def __init__(
        self, client: S3Client, location: S3Location, *, max_bytes: int, part_size: int = PART_SIZE
    ) -> None:
        """`client` stays the caller's to close, unless the store comes from `connect`."""
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"a part holds at least {MIN_PART_SIZE} bytes")
        self._client = client
        self._location = location
        self._max_bytes = max_bytes
        self._part_size = part_size
        self._closing = AsyncExitStack()

    @classmethod
    async def connect(
        cls, location: S3Location, *, max_bytes: int, part_size: int = PART_SIZE
    ) -> S3BlobStore:
        """A store with its own client, closed by `close()`."""
        config = AioConfig(
            s3={"addressing_style": "path" if location.path_style else "virtual"},
            # Checksums only where the API requires them: several S3-compatible servers
            # refuse the CRC32 headers that botocore now sends by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 3},
        )
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    endpoint_url=location.endpoint_url,
                    region_name=location.region,
                    aws_access_key_id=location.access_key,
                    aws_secret_access_key=location.secret_key,
                    config=config,
                )
            )
            store = cls(client, location, max_bytes=max_bytes, part_size=part_size)
            # The store owns the client only once it exists: a refusal above closes it.
            store._closing = stack.pop_all()
        return store

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists; run once at start."""
        bucket, region = self._location.bucket, self._location.region
        try:
            await self._client.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if _code(exc) not in {"404", "NoSuchBucket"}:
                raise
        try:
            if region == "us-east-1":  # the one region that refuses to be named here
                await self._client.create_bucket(Bucket=bucket)
            else:
                await self._client.create_bucket(
                    Bucket=bucket,
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", region)
                    },
                )
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # another replica was quicker
                raise

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> StoredBlob:
        check_key(key)
        tally = _Tally(self._max_bytes)
        async with aclosing(tally.blocks(chunks, self._part_size)) as blocks:
            first = await anext(blocks)
            if len(first) < self._part_size:  # the only block: no multipart upload needed
                await self._client.put_object(
                    Bucket=self._location.bucket, Key=key, Body=first, ContentType=content_type
                )
            else:
                await self._put_parts(key, content_type, first, blocks)
        return StoredBlob(key=key, size=tally.size, sha256=tally.digest.hexdigest())

    async def get(self, key: str) -> _BodyChunks:
        try:
            response = await self._client.get_object(Bucket=self._location.bucket, Key=check_key(key))
        except ClientError as exc:
            if _code(exc) in {"404", "NoSuchKey"}:
                raise BlobNotFound(key) from exc
            raise
        return _BodyChunks(response["Body"])

    async def delete(self, key: str) -> None:
        """S3 answers a delete of a missing key with success."""
        await self._client.delete_object(Bucket=self._location.bucket, Key=check_key(key))

    async def close(self) -> None:
        await self._closing.aclose()

    async def _put_parts(self, key: str, content_type: str, first: bytes, rest: AsyncIterator[bytes]) -> None:
        bucket = self._location.bucket
        started = await self._client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        upload_id = started["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            block: bytes | None = first
            while block:
                number = len(parts) + 1
                sent = await self._client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=block
                )
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})
                block = await anext(rest, None)
            await self._client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Shielded: a cancelled request must still release the parts it sent.
            await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _abort(self, key: str, upload_id: str) -> None:
        """Best effort: the error that made us abort is the one worth raising."""
        try:
            await self._client.abort_multipart_upload(
                Bucket=self._location.bucket, Key=key, UploadId=upload_id
            )
        except Exception:
            log.warning("could not abort the upload %s of %s", upload_id, key, exc_info=True)


class _Tally:
    """Counts and hashes the bytes as they pass, and stops them past `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.digest = hashlib.sha256()

    async def blocks(self, chunks: AsyncIterable[bytes], size: int) -> AsyncGenerator[bytes, None]:
        """Blocks of `size` bytes then a last, shorter one (maybe empty)."""
        buffer = bytearray()
        async for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise BlobTooLarge(self.max_bytes)
            self.digest.update(chunk)
            buffer += chunk
            while len(buffer) >= size:
                yield bytes(buffer[:size])
                del buffer[:size]
        yield bytes(buffer)


class _BodyChunks(Chunks):
    """The body of a `get_object` response, on its connection."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    async def _read(self) -> bytes:
        return await self._body.read(CHUNK_SIZE)

    async def aclose(self) -> None:
        self._body.close()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
