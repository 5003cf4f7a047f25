"""Password change, API keys, and an admin's changes of an account (mirrors
integration/test_accounts.py, test_admin_keys.py and test_access_changes.py on fakes)."""

from __future__ import annotations

import pytest

from parley_auth import services
from parley_auth.domain.accounts import Role
from parley_auth.domain.errors import (
    AccountDisabled,
    Conflict,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    PolicyViolation,
    Throttled,
)
from parley_auth.domain.model import AccessClaims, Account, ApiKey, Tokens
from parley_contracts import UserAccessChanged
from tests.unit.conftest import ADDRESS, PASSWORD, Ports

NEW_PASSWORD = "another horse battery"


async def test_a_new_password_needs_the_current_one(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    with pytest.raises(InvalidCredentials):
        await _change_password(ports, account, claims, current="not the password")
    assert ports.accounts.accounts[account.id].password_hash == f"hashed:{PASSWORD}"
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await _change_password(ports, account, claims, current="not the password")
    with pytest.raises(Throttled):
        await _change_password(ports, account, claims)


async def test_a_new_password_follows_the_policy(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    with pytest.raises(PolicyViolation):
        await _change_password(ports, account, claims, new="password123")


async def test_a_new_password_ends_every_other_session_and_every_key(ports: Ports) -> None:
    account, claims, mine = await ports.signed_in("dev@parley.dev")
    other = await ports.login("dev@parley.dev", address="198.51.100.50")
    key, secret = await _create_key(ports, account, claims, password=PASSWORD)
    ports.clock.advance(1)
    await _change_password(ports, account, claims)
    with pytest.raises(InvalidToken):
        await ports.refresh(other.refresh_token)
    with pytest.raises(InvalidCredentials):
        await _exchange(ports, secret)
    with pytest.raises(InvalidToken):  # issued before the change
        await ports.authenticate(mine.access_token)
    refreshed = await ports.refresh(mine.refresh_token)  # this session goes on
    await ports.authenticate(refreshed.access_token)
    await ports.login("dev@parley.dev", NEW_PASSWORD)
    [event] = ports.publisher.of_type("user.access_changed")
    assert isinstance(event, UserAccessChanged)
    assert event.tokens_not_before == ports.accounts.accounts[account.id].tokens_not_before
    assert ports.accounts.live_keys(account.id) == []
    assert key.user_id == account.id


async def test_a_key_needs_the_password(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    ports.clock.advance(ports.policy.key_fresh_sign_in_s + 1)
    with pytest.raises(InvalidCredentials):
        await _create_key(ports, account, claims, password=None)
    with pytest.raises(InvalidCredentials):
        await _create_key(ports, account, claims, password="not the password")
    key, secret = await _create_key(ports, account, claims, password=PASSWORD)
    assert secret.startswith(key.prefix)
    assert secret.startswith("pk_")
    assert ports.accounts.live_keys(account.id) == [key]


async def test_a_fresh_sign_in_makes_a_key_without_the_password(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    ports.clock.advance(ports.policy.key_fresh_sign_in_s)
    await _create_key(ports, account, claims, password=None)


async def test_a_token_from_a_key_never_makes_a_key_without_the_password(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    _, secret = await _create_key(ports, account, claims, password=PASSWORD)
    _, from_key = await ports.authenticate((await _exchange(ports, secret)).access_token)
    assert from_key.sid is None
    with pytest.raises(InvalidCredentials):
        await _create_key(ports, account, from_key, password=None)


async def test_keys_are_exchanged_listed_and_revoked(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    key, secret = await _create_key(ports, account, claims, password=PASSWORD)
    tokens = await _exchange(ports, secret)
    assert tokens.refresh_token is None
    assert (await ports.authenticate(tokens.access_token))[0].id == account.id
    [listed] = await services.list_api_keys(account.id, accounts=ports.accounts)
    assert (listed.id, listed.last_used_at) == (key.id, ports.clock())
    await services.revoke_api_key(account.id, key.id, accounts=ports.accounts, clock=ports.clock)
    with pytest.raises(InvalidCredentials):
        await _exchange(ports, secret)
    with pytest.raises(NotFound):
        await services.revoke_api_key(account.id, key.id, accounts=ports.accounts, clock=ports.clock)


async def test_a_disabled_account_cannot_exchange_its_key(ports: Ports) -> None:
    account, claims, _ = await ports.signed_in("dev@parley.dev")
    _, secret = await _create_key(ports, account, claims, password=PASSWORD)
    ports.accounts.accounts[account.id].disabled = True
    with pytest.raises(AccountDisabled):
        await _exchange(ports, secret)


async def test_failed_exchanges_are_throttled_per_key_prefix(ports: Ports) -> None:
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            await _exchange(ports, f"pk_samepfx{n}", address=f"198.51.100.{n}")
    with pytest.raises(Throttled):
        await _exchange(ports, "pk_samepfx-more", address="198.51.100.200")


async def test_disabling_an_account_ends_its_sessions_and_keys_at_once(ports: Ports) -> None:
    admin, _, _ = await ports.signed_in("root@parley.dev")
    await services.registration.grant_admin("root@parley.dev", accounts=ports.accounts, clock=ports.clock)
    user, claims, tokens = await ports.signed_in("dev@parley.dev")
    _, secret = await _create_key(ports, user, claims, password=PASSWORD)
    disabled = await ports.update(admin, user, disabled=True)
    assert disabled.tokens_not_before == ports.clock()
    with pytest.raises(InvalidToken):
        await ports.refresh(tokens.refresh_token)
    with pytest.raises(InvalidCredentials):
        await _exchange(ports, secret)
    [event] = ports.publisher.of_type("user.access_changed")
    assert isinstance(event, UserAccessChanged)
    assert event.disabled


async def test_an_admin_cannot_disable_or_demote_themselves(ports: Ports) -> None:
    await ports.register("root@parley.dev")
    admin = await services.registration.grant_admin(
        "root@parley.dev", accounts=ports.accounts, clock=ports.clock
    )
    with pytest.raises(Conflict):
        await ports.update(admin, admin, disabled=True)
    with pytest.raises(Conflict):
        await ports.update(admin, admin, role=Role.USER)
    budget = await ports.update(admin, admin, budget_tokens=10)
    assert budget.budget_tokens == 10
    assert ports.publisher.of_type("user.access_changed") == []  # a budget is no access change


async def _change_password(
    ports: Ports, account: Account, claims: AccessClaims, *, current: str = PASSWORD, new: str = NEW_PASSWORD
) -> None:
    await services.change_password(
        account.id, claims, current, new, accounts=ports.accounts, hasher=ports.hasher,
        throttle=ports.throttle, publisher=ports.publisher, policy=ports.policy, clock=ports.clock,
    )  # fmt: skip


async def _create_key(
    ports: Ports, account: Account, claims: AccessClaims, *, password: str | None
) -> tuple[ApiKey, str]:
    return await services.create_api_key(
        account, claims, "laptop", password=password, accounts=ports.accounts, hasher=ports.hasher,
        throttle=ports.throttle, policy=ports.policy, clock=ports.clock,
    )  # fmt: skip


async def _exchange(ports: Ports, secret: str, *, address: str = ADDRESS) -> Tokens:
    return await services.exchange_api_key(
        secret, address, accounts=ports.accounts, throttle=ports.key_throttle, issuer=ports.keys,
        policy=ports.policy, clock=ports.clock,
    )  # fmt: skip
