"""Pure domain logic: password policy, first admin, throttling windows, budgets."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import pytest

from parley_auth.adapters.passwords import BoundedHasher
from parley_auth.domain.accounts import (
    Role,
    check_email_scripts,
    check_password,
    initial_role,
    normalize_email,
    skeleton,
)
from parley_auth.domain.errors import PolicyViolation, Throttled
from parley_auth.domain.quota import Budget, Price, effective_budget, period_start
from parley_auth.domain.throttle import KeyThrottle, LoginThrottle, RegistrationThrottle
from parley_auth.settings import Settings
from parley_platform.database import async_database_url


@pytest.mark.parametrize("password", ["short", "password123", "zzzzzzzzzz", "a" * 257, "bob@x.io", "bob"])
def test_password_policy_refuses(password: str) -> None:
    with pytest.raises(PolicyViolation):
        check_password(password, email="bob@x.io", min_length=8)


def test_password_policy_accepts_a_passphrase() -> None:
    check_password("correct horse battery", email="bob@x.io", min_length=8)


def test_outside_dev_mode_only_the_bootstrap_makes_an_admin() -> None:
    def role(email: str, *, dev: bool = False, first: bool = False, bootstrapped: bool = False) -> Role:
        return initial_role(
            email, dev=dev, first_account=first, admin_email="boss@x.io", bootstrapped=bootstrapped
        )

    assert role("a@x.io", first=True) is Role.USER  # being first proves nothing
    assert role("boss@x.io", first=True) is Role.USER  # nor an unverified address
    assert role("a@x.io", bootstrapped=True) is Role.ADMIN
    assert role("a@x.io", dev=True, first=True) is Role.ADMIN  # make dev keeps its dev admin
    assert role(" BOSS@x.io", dev=True) is Role.ADMIN
    assert role("b@x.io", dev=True) is Role.USER


@pytest.mark.parametrize(
    ("typed", "identity"),
    [
        (" Foo@Bar.IO", "foo@bar.io"),
        ("\uff44\uff45\uff56@parley.dev", "dev@parley.dev"),  # full-width
        ("STRASSE@x.io", "strasse@x.io"),
        ("stra\u00dfe@x.io", "strasse@x.io"),  # case folding: sharp s
    ],
)
def test_an_address_has_one_identity(typed: str, identity: str) -> None:
    assert normalize_email(typed) == identity


def test_look_alike_letters_of_other_scripts() -> None:
    cyrillic_e = "d\u0435v@parley.dev"
    with pytest.raises(PolicyViolation, match="alphabets"):
        check_email_scripts(normalize_email(cyrillic_e))
    assert skeleton(normalize_email(cyrillic_e)) == "dev@parley.dev"
    all_cyrillic = "\u0430\u0441\u0435@parley.dev"  # a, s, e in Cyrillic: one script per part
    check_email_scripts(all_cyrillic)
    assert skeleton(all_cyrillic) == "ace@parley.dev"
    check_email_scripts("\u0438\u0432\u0430\u043d@example.com")  # a Russian name is an address


def test_failed_logins_slow_one_address_down_not_the_account() -> None:
    now = [0.0]
    throttle = LoginThrottle(per_account=2, per_ip=3, window_s=60, clock=lambda: now[0])
    throttle.failed("a", "ip1")
    throttle.failed("a", "ip1")
    with pytest.raises(Throttled) as caught:
        throttle.check("a", "ip1")
    assert caught.value.retry_after_s == 60
    throttle.check("a", "ip2")  # the owner elsewhere is not locked out
    throttle.check("b", "ip1")
    throttle.failed("b", "ip1")
    with pytest.raises(Throttled):
        throttle.check("c", "ip1")  # the address has had its three
    now[0] = 61.0
    throttle.check("a", "ip1")  # aged out
    throttle.failed("d", "ip9")
    throttle.succeeded("d", "ip9")
    throttle.check("d", "ip9")


def test_failed_key_exchanges_have_buckets_of_their_own() -> None:
    keys = KeyThrottle(per_ip=3, per_prefix=2, window_s=60, clock=lambda: 0.0)
    keys.failed("pk_aaaaaaa", "ip1")
    keys.failed("pk_aaaaaaa", "ip2")
    with pytest.raises(Throttled):
        keys.check("pk_aaaaaaa", "ip3")  # that prefix, from anywhere
    keys.check("pk_bbbbbbb", "ip1")
    keys.failed("pk_ccccccc", "ip1")
    keys.failed("pk_ddddddd", "ip1")
    with pytest.raises(Throttled):
        keys.check("pk_eeeeeee", "ip1")  # that address, any key


def test_registrations_are_counted_per_address() -> None:
    now = [0.0]
    registrations = RegistrationThrottle(per_ip=2, window_s=3600, clock=lambda: now[0])
    registrations.admit("ip1")
    registrations.admit("ip1")
    with pytest.raises(Throttled, match="registrations"):
        registrations.admit("ip1")
    registrations.admit("ip2")
    now[0] = 3601.0
    registrations.admit("ip1")


def test_budgets_and_prices() -> None:
    assert not Budget(0).exceeded(10**9)
    assert Budget(100).exceeded(100)
    assert not Budget(100).exceeded(99)
    assert effective_budget(None, 50).limit == 50
    assert effective_budget(0, 50).limit == 0
    assert Price(1.0, 2.0).cost(1_000_000, 500_000) == pytest.approx(2.0)
    # nano-units, rounded once per completion: integer sums do not depend on their order
    assert Price(1.0, 2.0).cost_nanos(1_000_000, 500_000) == 2_000_000_000
    assert Price(0.15, 0.6).cost_nanos(916, 529) == 454_800
    assert period_start(datetime(2026, 3, 17, 23, 59), "month") == date(2026, 3, 1)
    assert period_start(date(2026, 3, 17), "day") == date(2026, 3, 17)


def test_settings_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    assert async_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValueError, match="must be"):
        async_database_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="PostgreSQL outside dev"):
        Settings(database_url="sqlite:///x.db")
    with pytest.raises(ValueError, match="dev mode"):
        Settings(database_url="postgresql://h/db", cookie_secure=False)
    monkeypatch.setenv("PARLEY_ADMIN_EMAIL", "boss@x.io")
    monkeypatch.setenv("PARLEY_AUTH_PRICES", '{"m": {"input_price_per_mtok": 3}}')
    settings = Settings(database_url="postgresql://h/db")
    assert settings.admin_email == "boss@x.io"
    assert settings.model_prices()["m"].input_price_per_mtok == 3


class _SlowHasher:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.most = 0

    async def hash(self, password: str) -> str:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1
        return "hash:" + password

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return password_hash == await self.hash(password)

    def needs_rehash(self, password_hash: str) -> bool:
        return False


async def test_hashing_is_bounded_and_the_overflow_is_told_to_retry() -> None:
    inner = _SlowHasher()
    hasher = BoundedHasher(inner, concurrency=2, queue_max=3)
    admitted = [asyncio.create_task(hasher.hash(f"p{i}")) for i in range(5)]
    await asyncio.sleep(0.01)
    with pytest.raises(Throttled) as caught:
        await hasher.verify("x", "p")
    assert caught.value.retry_after_s >= 1
    inner.release.set()
    assert await asyncio.gather(*admitted) == [f"hash:p{i}" for i in range(5)]
    assert inner.most == 2
    assert await hasher.verify("hash:p", "p")  # room again


def test_wrong_current_passwords_are_counted_per_account() -> None:
    throttle = LoginThrottle(per_account=2, per_ip=3, window_s=60, clock=lambda: 0.0)
    throttle.confirmations.fail("u1")
    throttle.confirmations.fail("u1")
    with pytest.raises(Throttled, match="wrong passwords"):
        throttle.confirmations.check("u1")
    throttle.confirmations.check("u2")
    throttle.check("a", "ip1")  # logins are another bucket


def test_settings_refuse_anyone_as_a_proxy_and_a_short_bootstrap_token() -> None:
    url = "postgresql://h/db"
    with pytest.raises(ValueError, match="not '\\*'"):
        Settings(database_url=url, forwarded_allow_ips="*")
    with pytest.raises(ValueError, match="at least 24 characters"):
        Settings(database_url=url, bootstrap_token="short")  # type: ignore[arg-type]
    assert Settings(database_url=url, bootstrap_token="").bootstrap_token is None  # type: ignore[arg-type]
    assert Settings(database_url=url, forwarded_allow_ips="10.0.0.0/8").forwarded_allow_ips == "10.0.0.0/8"
