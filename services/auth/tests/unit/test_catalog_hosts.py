"""Which base URL changes keep a provider's key (pure)."""

from __future__ import annotations

import pytest

from parley_auth.domain.catalog import check_base_url, same_host


@pytest.mark.parametrize(
    ("before", "after", "same"),
    [
        ("https://api.example.com/v1", "https://api.example.com/v2", True),
        ("https://api.example.com/v1", "https://API.example.com:443/v1", True),
        ("http://h:80/v1", "http://h/other", True),
        ("https://api.example.com/v1", "http://api.example.com/v1", False),
        ("https://api.example.com/v1", "https://api.example.com:8443/v1", False),
        ("https://api.example.com/v1", "https://api.example.com.evil.test/v1", False),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1", False),
    ],
)
def test_same_host_means_scheme_host_and_port(before: str, after: str, same: bool) -> None:
    assert same_host(before, after) is same


def test_a_base_url_carries_no_credentials() -> None:
    with pytest.raises(ValueError, match="credentials"):
        check_base_url("https://user:secret@api.example.com/v1")
