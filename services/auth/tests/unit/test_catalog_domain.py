"""The catalogue's pure rules: URLs, keys, limits, and the seeding plan."""

from __future__ import annotations

import pytest

from parley_auth.domain.catalog import check_base_url, check_defaults, check_limits, key_last4, plan_seed


def test_base_urls() -> None:
    assert check_base_url("https://api.openai.com/v1/") == "https://api.openai.com/v1"
    for bad, why in [
        ("api.openai.com", "http"),
        ("ftp://h", "http"),
        ("http://", "host"),
        ("http://h:99999", "valid"),
        ("http://h/v1?x=1", "query"),
        ("http://h /v1", "whitespace"),
    ]:
        with pytest.raises(ValueError, match=why):
            check_base_url(bad)


def test_key_last4_and_limits() -> None:
    assert key_last4("sk-abcdefgh") == "efgh"
    assert key_last4("short") is None
    assert check_limits(context_window=10, max_tokens=10) is None
    assert "context_window" in (check_limits(context_window=10, max_tokens=11) or "")
    with pytest.raises(ValueError, match="stream"):
        check_defaults({"stream": False, "top_k": 4})


def test_seed_plan_groups_providers_and_names_them_after_their_hosts() -> None:
    entries = [
        {"name": "a", "base_url": "http://127.0.0.1:8081/v1", "model": "a"},
        {"name": "b", "base_url": "http://127.0.0.1:8081/v1/", "model": "b"},
        {"name": "c", "base_url": "http://127.0.0.1:8000/v1", "model": "c", "api_key_env": "K"},
        {"name": "d", "base_url": "https://api.x.com/v1", "model": "d", "api_key_env": "K"},
        {"name": "e", "base_url": "https://api.x.com/v1", "model": "e", "api_key_env": "OTHER"},
        {"name": "a", "base_url": "http://h/v1", "model": "dup"},
        {"name": "f", "base_url": "http://h/v1", "model": "f", "max_tokens": 10, "context_window": 5},
    ]
    plan = plan_seed(entries, {"K": "the-key-1234"}, can_seal=True)
    assert [p.name for p in plan.providers] == [
        "127.0.0.1:8081",
        "127.0.0.1:8000",
        "api.x.com",
        "api.x.com #2",
    ]
    assert [(m.name, m.provider.name, m.enabled) for m in plan.models] == [
        ("a", "127.0.0.1:8081", True),
        ("b", "127.0.0.1:8081", True),
        ("c", "127.0.0.1:8000", True),
        ("d", "api.x.com", True),
        ("e", "api.x.com #2", False),
    ]
    assert plan.providers[1].key == "the-key-1234"
    assert len(plan.skipped) == 2
    unsealable = plan_seed(entries, {"K": "the-key-1234"}, can_seal=False)
    assert all(p.key is None for p in unsealable.providers)
    assert [m.enabled for m in unsealable.models] == [True, True, False, False, False]
