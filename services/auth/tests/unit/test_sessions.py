"""Sign-in, refresh rotation and reuse, sign-out, and which access tokens still count
(mirrors integration/test_accounts.py and test_tokens.py on fakes)."""

from __future__ import annotations

import uuid

import pytest

from parley_auth import services
from parley_auth.domain.errors import AccountDisabled, InvalidCredentials, InvalidToken, Throttled
from parley_auth.domain.model import AccessClaims, Tokens
from parley_contracts import UserAccessChanged
from tests.unit.conftest import PASSWORD, Ports

OTHER_ADDRESS = "198.51.100.99"


async def test_login_by_any_spelling_of_the_address(ports: Ports) -> None:
    await ports.register("dev@parley.dev")
    tokens = await ports.login(" DEV@parley.dev")
    account, claims = await ports.authenticate(tokens.access_token)
    assert (account.email, claims.sid) == ("dev@parley.dev", str(_family(ports, tokens)))
    assert ports.metrics.logins.count("ok") == 1


async def test_a_wrong_password_and_an_unknown_account_look_the_same(ports: Ports) -> None:
    await ports.register("dev@parley.dev")
    with pytest.raises(InvalidCredentials) as wrong:
        await ports.login("dev@parley.dev", "nope nope nope")
    with pytest.raises(InvalidCredentials) as unknown:
        await ports.login("nobody@parley.dev", "nope nope nope")
    assert wrong.value.detail == unknown.value.detail
    assert ports.metrics.logins.count("failed") == 2


async def test_failures_are_throttled_per_account_and_address_not_for_everyone(ports: Ports) -> None:
    await ports.register("dev@parley.dev")
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await ports.login("dev@parley.dev", "nope nope nope")
    with pytest.raises(Throttled) as throttled:
        await ports.login("dev@parley.dev")  # even the right password, from there
    assert throttled.value.retry_after_s > 0
    await ports.login("dev@parley.dev", address=OTHER_ADDRESS)  # the owner elsewhere is not locked out
    ports.clock.advance(900)
    await ports.login("dev@parley.dev")


async def test_failures_are_throttled_per_address_across_accounts(ports: Ports) -> None:
    for n in range(20):
        with pytest.raises(InvalidCredentials):
            await ports.login(f"guess{n}@parley.dev", "nope nope nope")
    await ports.register("dev@parley.dev", address=OTHER_ADDRESS)
    with pytest.raises(Throttled):
        await ports.login("dev@parley.dev")


async def test_a_success_clears_the_failures_of_its_account_and_address(ports: Ports) -> None:
    await ports.register("dev@parley.dev")
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await ports.login("dev@parley.dev", "nope nope nope")
    await ports.login("dev@parley.dev")
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await ports.login("dev@parley.dev", "nope nope nope")
    await ports.login("dev@parley.dev")


async def test_a_disabled_account_cannot_sign_in(ports: Ports) -> None:
    user = await ports.register("dev@parley.dev")
    ports.accounts.accounts[user.id].disabled = True
    with pytest.raises(AccountDisabled):
        await ports.login("dev@parley.dev")
    assert ports.metrics.logins.count("disabled") == 1


async def test_an_outdated_hash_is_upgraded_at_login(ports: Ports) -> None:
    user = await ports.register("dev@parley.dev")
    ports.hasher.outdated.add(f"hashed:{PASSWORD}")
    hashes = ports.hasher.hashes
    await ports.login("dev@parley.dev")
    assert ports.hasher.hashes == hashes + 1
    assert ports.accounts.accounts[user.id].password_hash == f"hashed:{PASSWORD}"


async def test_refresh_rotates_within_the_session(ports: Ports) -> None:
    await ports.register("dev@parley.dev")
    first = await ports.login("dev@parley.dev")
    second = await ports.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert _family(ports, second) == _family(ports, first)
    await ports.refresh(second.refresh_token)
    assert ports.metrics.refreshes.count("ok") == 2


async def test_a_reused_refresh_token_ends_the_whole_session(ports: Ports) -> None:
    user = await ports.register("dev@parley.dev")
    stolen = await ports.login("dev@parley.dev")
    rotated = await ports.refresh(stolen.refresh_token)
    other = await ports.login("dev@parley.dev")
    with pytest.raises(InvalidToken):
        await ports.refresh(stolen.refresh_token)
    # committed although the use case raised: the rotated token is dead too
    with pytest.raises(InvalidToken):
        await ports.refresh(rotated.refresh_token)
    with pytest.raises(InvalidToken):
        await ports.authenticate(rotated.access_token)
    await ports.refresh(other.refresh_token)  # another session of the account lives on
    [event] = ports.publisher.of_type("user.access_changed")
    assert isinstance(event, UserAccessChanged)
    assert event.user_id == str(user.id)
    assert event.sessions_ended == (str(_family(ports, stolen)),)
    assert ports.metrics.refreshes.count("reused") == 1


@pytest.mark.parametrize("token", [None, "", "never-issued"])
async def test_refresh_without_a_known_token_is_refused(ports: Ports, token: str | None) -> None:
    with pytest.raises(InvalidToken):
        await ports.refresh(token)


async def test_an_expired_refresh_token_is_refused(ports: Ports) -> None:
    await ports.register("dev@parley.dev")
    tokens = await ports.login("dev@parley.dev")
    ports.clock.advance(ports.policy.refresh_ttl_s)
    with pytest.raises(InvalidToken):
        await ports.refresh(tokens.refresh_token)


async def test_a_disabled_account_cannot_refresh(ports: Ports) -> None:
    user = await ports.register("dev@parley.dev")
    tokens = await ports.login("dev@parley.dev")
    ports.accounts.accounts[user.id].disabled = True
    with pytest.raises(InvalidToken, match="disabled"):
        await ports.refresh(tokens.refresh_token)
    # The refusal's revocation is kept (not rolled back with the refusal): enabled again, the
    # account's old sessions stay ended.
    assert all(t.revoked_at is not None for t in ports.accounts.family(_family(ports, tokens)))
    ports.accounts.accounts[user.id].disabled = False
    with pytest.raises(InvalidToken):
        await ports.refresh(tokens.refresh_token)


async def test_logout_ends_the_session_of_the_access_token_or_the_cookie(ports: Ports) -> None:
    _, claims, tokens = await ports.signed_in("dev@parley.dev")
    await _logout(ports, claims, None)
    with pytest.raises(InvalidToken):
        await ports.authenticate(tokens.access_token)
    with pytest.raises(InvalidToken):
        await ports.refresh(tokens.refresh_token)
    by_cookie = await ports.login("dev@parley.dev")
    await _logout(ports, None, by_cookie.refresh_token)
    with pytest.raises(InvalidToken):
        await ports.authenticate(by_cookie.access_token)
    assert len(ports.publisher.of_type("user.access_changed")) == 2


async def test_logout_naming_no_session_is_refused(ports: Ports) -> None:
    with pytest.raises(InvalidToken):
        await _logout(ports, None, "never-issued")


async def test_access_tokens_of_a_disabled_account_are_refused(ports: Ports) -> None:
    account, _, tokens = await ports.signed_in("dev@parley.dev")
    ports.accounts.accounts[account.id].disabled = True
    with pytest.raises(AccountDisabled):
        await ports.authenticate(tokens.access_token)


async def _logout(ports: Ports, claims: AccessClaims | None, cookie: str | None) -> None:
    await services.logout(
        claims,
        cookie,
        accounts=ports.accounts,
        publisher=ports.publisher,
        policy=ports.policy,
        clock=ports.clock,
    )


def _family(ports: Ports, tokens: Tokens) -> uuid.UUID:
    claims = ports.keys.issued[tokens.access_token]
    assert claims.sid is not None
    return uuid.UUID(claims.sid)
