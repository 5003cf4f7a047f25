"""Pure domain logic: password policy, first admin, throttling windows, budgets."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from parley_auth.domain.accounts import Role, check_password, initial_role, normalize_email
from parley_auth.domain.errors import PolicyViolation, Throttled
from parley_auth.domain.quota import Budget, Price, effective_budget, period_start
from parley_auth.domain.throttle import LoginThrottle
from parley_auth.settings import Settings, normalize_database_url


@pytest.mark.parametrize("password", ["short", "password123", "zzzzzzzzzz", "a" * 257, "bob@x.io", "bob"])
def test_password_policy_refuses(password: str) -> None:
    with pytest.raises(PolicyViolation):
        check_password(password, email="bob@x.io", min_length=8)


def test_password_policy_accepts_a_passphrase() -> None:
    check_password("correct horse battery", email="bob@x.io", min_length=8)


def test_initial_role() -> None:
    assert initial_role("a@x.io", admin_email=None, first_account=True) is Role.ADMIN
    assert initial_role("A@X.io ", admin_email="a@x.io", first_account=False) is Role.ADMIN
    assert initial_role("b@x.io", admin_email="a@x.io", first_account=False) is Role.USER
    assert normalize_email(" Foo@Bar.IO") == "foo@bar.io"


def test_throttle_per_account_and_address() -> None:
    now = [0.0]
    throttle = LoginThrottle(per_account=2, per_ip=3, window_s=60, clock=lambda: now[0])
    throttle.failed("a", "ip1")
    throttle.failed("a", "ip1")
    with pytest.raises(Throttled) as caught:
        throttle.check("a", "ip2")
    assert caught.value.retry_after_s == 60
    throttle.check("b", "ip2")
    throttle.failed("b", "ip1")
    with pytest.raises(Throttled):
        throttle.check("c", "ip1")
    now[0] = 61.0
    throttle.check("a", "ip1")  # aged out
    throttle.failed("d", "ip9")
    throttle.succeeded("d")
    throttle.check("d", "ip9")


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
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValueError, match="must be"):
        normalize_database_url("mysql://u@h/db")
    with pytest.raises(ValueError, match="PostgreSQL outside dev"):
        Settings(database_url="sqlite:///x.db")
    with pytest.raises(ValueError, match="dev mode"):
        Settings(database_url="postgresql://h/db", cookie_secure=False)
    monkeypatch.setenv("PARLEY_ADMIN_EMAIL", "boss@x.io")
    monkeypatch.setenv("PARLEY_AUTH_PRICES", '{"m": {"input_price_per_mtok": 3}}')
    settings = Settings(database_url="postgresql://h/db")
    assert settings.admin_email == "boss@x.io"
    assert settings.model_prices()["m"].input_price_per_mtok == 3
