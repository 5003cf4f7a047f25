"""A real S3-compatible server (moto, as a process on a free loopback port) for the
session, and the blob stores under test: a directory and a fresh bucket per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from parley_files.adapters.blobs_dir import DirBlobStore
from parley_files.adapters.blobs_s3 import MIN_PART_SIZE, S3BlobStore, S3Location
from parley_testkit import ServiceProcess, free_port
from tests.blob_contract import LIMIT, StoreCase

REGION = "eu-west-1"
"""Not us-east-1, so that creating a bucket names its region as it must elsewhere."""


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with ServiceProcess(args, env={}, name="moto") as moto:
        url = f"http://127.0.0.1:{port}"
        moto.wait_ready(f"{url}/moto-api/")
        yield url


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Iterator[Any]:
    """A plain boto3 client, to look at the bucket from outside the store."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    yield client
    client.close()


def s3_location(endpoint: str, bucket: str) -> S3Location:
    return S3Location(
        endpoint_url=endpoint, region=REGION, bucket=bucket, access_key="test", secret_key="test"
    )


@pytest.fixture
def s3_bucket() -> str:
    return f"blobs-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def s3_store(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3BlobStore]:
    location = s3_location(s3_endpoint, s3_bucket)
    store = await S3BlobStore.connect(location, max_bytes=LIMIT, part_size=MIN_PART_SIZE)
    await store.ensure_bucket()
    yield store
    await store.close()


@pytest.fixture
async def dir_store(tmp_path: Path) -> AsyncIterator[DirBlobStore]:
    store = DirBlobStore(tmp_path / "blobs", max_bytes=LIMIT)
    yield store
    await store.close()


@pytest.fixture(params=["dir", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    if request.param == "dir":
        store = request.getfixturevalue("dir_store")
        root = tmp_path / "blobs"
        return StoreCase(
            store, lambda: sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())
        )
    store, admin = request.getfixturevalue("s3_store"), request.getfixturevalue("s3_admin")
    bucket = request.getfixturevalue("s3_bucket")
    return StoreCase(store, lambda: bucket_contents(admin, bucket))


def bucket_contents(admin: Any, bucket: str) -> list[str]:
    """The bucket's objects by key, and each unfinished multipart upload."""
    objects = admin.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sorted([obj["Key"] for obj in objects] + [f"upload of {up['Key']}" for up in uploads])
