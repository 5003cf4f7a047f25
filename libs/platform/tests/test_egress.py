"""The egress guard: which addresses providers may be reached at (pure, and with a stub
resolver: no DNS server, no connection)."""

from __future__ import annotations

import pytest

from parley_platform import egress
from parley_platform.egress import EgressPolicy, EgressRefused, check_url
from parley_testkit import StubResolver

REFUSED = [
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("127.0.0.1", "a loopback address"),
    ("127.8.9.10", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.5", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.0.1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("169.254.10.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.100.100.200", "a shared (CGNAT) address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("255.255.255.255", "a reserved address"),
    ("192.0.0.192", "a special-purpose address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("::ffff:169.254.169.254", "a cloud metadata address"),
    ("2002:a00:1::", "a private address"),  # 6to4 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),  # NAT64 of 169.254.169.254
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_internal_addresses_are_refused_by_default(address: str, reason: str) -> None:
    assert EgressPolicy().refusal(address) == reason


PUBLIC = ["8.8.8.8", "203.0.113.7", "172.32.0.1", "2606:4700::1111", "100.128.0.1"]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert EgressPolicy().refusal(address) is None


def test_the_operator_allows_chosen_networks_only() -> None:
    policy = EgressPolicy.parse(" 127.0.0.0/8, ::1 ,10.1.0.0/16,")
    for allowed in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3"):
        assert policy.refusal(allowed) is None, allowed
    assert policy.refusal("10.2.0.1") == "a private address"
    assert policy.refusal("169.254.169.254") == "a cloud metadata address"
    assert not policy.allows_everything
    assert EgressPolicy.parse("0.0.0.0/0,::/0").allows_everything
    with pytest.raises(ValueError, match="'intranet' is not a CIDR"):
        EgressPolicy.parse("10.0.0.0/8,intranet")


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> StubResolver:
    stub = StubResolver({"public.test": ["203.0.113.7"], "mixed.test": ["203.0.113.7", "169.254.169.254"]})
    monkeypatch.setattr(egress, "resolve", stub)
    return stub


async def test_every_address_of_a_name_is_checked(resolver: StubResolver) -> None:
    await check_url("https://public.test/v1", EgressPolicy())
    with pytest.raises(EgressRefused) as caught:
        await check_url("https://mixed.test/v1", EgressPolicy())
    assert caught.value.reason == "a cloud metadata address"
    assert "169.254" not in str(caught.value)  # the refusal names the kind, not the address
    assert resolver.asked == ["public.test", "mixed.test"]


async def test_literals_are_not_resolved_and_everything_allowed_resolves_nothing(
    resolver: StubResolver,
) -> None:
    with pytest.raises(EgressRefused, match="loopback"):
        await check_url("http://[::1]:8000/v1", EgressPolicy())
    await check_url("http://127.0.0.1:8000/v1", EgressPolicy.parse("127.0.0.0/8"))
    await check_url("http://anything.test/v1", EgressPolicy.parse("0.0.0.0/0,::/0"))
    assert resolver.asked == []
