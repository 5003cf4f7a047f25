"""Blob keys: safe as S3 object keys and as paths below the directory store's root."""

from __future__ import annotations

import pytest

from parley_files.domain.blobs import MAX_KEY_LENGTH, check_key

SEGMENT = "s" * 128


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "u1/f1",
        "user-42/0190c6f2-5f1e-7cc1-9b7e-4c7f2b9d9a10",
        "u_1/report.v2.pdf",
        "a/b/c/d",
        "u1/f1.",
        SEGMENT,
        "/".join([SEGMENT[:127]] * 4),
    ],
)
def test_a_safe_key_is_kept_as_it_is(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("u1/", id="trailing-slash"),
        pytest.param("u1//f1", id="empty-segment"),
        pytest.param("..", id="parent"),
        pytest.param("u1/../u2/f1", id="parent-inside"),
        pytest.param("u1/..", id="parent-at-end"),
        pytest.param("u1/f..1", id="double-dot"),
        pytest.param("./u1", id="current"),
        pytest.param(".hidden", id="hidden"),
        pytest.param("u1/.f1.part", id="hidden-segment"),
        pytest.param("u1\\f1", id="backslash"),
        pytest.param("u 1/f1", id="space"),
        pytest.param("u1/f1\n", id="trailing-newline"),
        pytest.param("u1/f\x001", id="nul"),
        pytest.param("u1/fé", id="non-ascii"),
        pytest.param("u1/f1?x=1", id="query"),
        pytest.param("s" * 129, id="long-segment"),
        pytest.param("/".join(["s" * 128] * 4), id="too-long"),
    ],
)
def test_an_unsafe_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a blob key"):
        check_key(key)


def test_the_length_limit_counts_the_whole_key() -> None:
    assert len("/".join(["s" * 128] * 4)) == MAX_KEY_LENGTH + 3
    assert len("/".join([SEGMENT[:127]] * 4)) <= MAX_KEY_LENGTH
