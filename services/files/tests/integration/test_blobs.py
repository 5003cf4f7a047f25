"""The blob store contract against both stores, and what only S3 shows: parts, buckets."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from parley_files.adapters.blobs_s3 import MIN_PART_SIZE, S3BlobStore
from tests.blob_contract import BlobStoreContract, chunks, read_all
from tests.integration.conftest import s3_location

pytestmark = pytest.mark.integration


class TestBlobStores(BlobStoreContract):
    """Every contract test, once per store (the `case` fixture's params)."""


async def test_a_large_blob_goes_up_in_parts(s3_store: S3BlobStore, s3_admin: Any, s3_bucket: str) -> None:
    data = os.urandom(12 << 20)

    await s3_store.put("u1/f1", chunks(data), content_type="application/pdf")

    head = s3_admin.head_object(Bucket=s3_bucket, Key="u1/f1")
    assert head["ETag"].strip('"').endswith("-3"), "5 MiB + 5 MiB + 2 MiB"
    assert head["ContentType"] == "application/pdf"
    assert hashlib.sha256((await read_all(s3_store, "u1/f1"))[0]).digest() == hashlib.sha256(data).digest()


async def test_a_small_blob_goes_up_whole(s3_store: S3BlobStore, s3_admin: Any, s3_bucket: str) -> None:
    await s3_store.put("u1/f1", chunks(b"# notes\n"), content_type="text/markdown")

    head = s3_admin.head_object(Bucket=s3_bucket, Key="u1/f1")
    assert "-" not in head["ETag"]
    assert head["ContentType"] == "text/markdown"


async def test_ensure_bucket_keeps_an_existing_bucket(
    s3_store: S3BlobStore, s3_admin: Any, s3_bucket: str
) -> None:
    await s3_store.put("u1/f1", chunks(b"x"), content_type="text/plain")

    await s3_store.ensure_bucket()

    location = s3_admin.get_bucket_location(Bucket=s3_bucket)["LocationConstraint"]
    assert location == "eu-west-1"
    assert (await read_all(s3_store, "u1/f1"))[0] == b"x"


async def test_a_part_is_at_least_five_mib(s3_endpoint: str, s3_bucket: str) -> None:
    with pytest.raises(ValueError, match="at least"):
        await S3BlobStore.connect(
            s3_location(s3_endpoint, s3_bucket), max_bytes=1 << 30, part_size=MIN_PART_SIZE - 1
        )
