"""What an account's access change takes away, as the gateway applies it: the verifier
refuses the token or caps its role, and the newest change of an account wins."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from parley_gateway.access import record_access_change
from parley_gateway.adapters.tokens import JwksTokenVerifier
from parley_gateway.domain.auth import AccountAccess, Principal
from parley_gateway.domain.errors import CredentialRefused, ErrorCode
from parley_gateway.services.broker_events import Inboxes
from parley_testkit import TestIssuer
from tests.fakes import ACCESS_TTL, SENDERS, UNCHECKED, FakeClock, access_changed


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def principal(user_id: str, issued_at: datetime, role: str = "user") -> Principal:
    return Principal(user_id, role, expires_at=issued_at.timestamp() + 900, issued_at=issued_at.timestamp())


def refusal(access: AccountAccess, who: Principal) -> ErrorCode:
    with pytest.raises(CredentialRefused) as caught:  # a socket closes 4401
        access.check(who)
    return caught.value.code


def test_a_disabled_accounts_tokens_are_refused_and_other_users_are_untouched() -> None:
    clock = Clock()
    access = AccountAccess(now=clock)
    before = clock.now - timedelta(seconds=30)
    assert access.record(access_changed("alice", clock.now, disabled=True, cut=clock.now))
    assert refusal(access, principal("alice", before)) == ErrorCode.ACCOUNT_DISABLED
    assert access.check(principal("bob", before)) == principal("bob", before)


def test_enabled_again_old_tokens_are_revoked_new_ones_work() -> None:
    clock = Clock()
    access = AccountAccess(now=clock)
    disabled_at = clock.now
    access.record(access_changed("alice", disabled_at, disabled=True, cut=disabled_at))
    clock.now += timedelta(seconds=5)
    access.record(access_changed("alice", clock.now, cut=disabled_at))
    assert refusal(access, principal("alice", disabled_at - timedelta(seconds=1))) == ErrorCode.TOKEN_REVOKED
    fresh = principal("alice", clock.now)
    assert access.check(fresh) == fresh


def test_a_demoted_admins_old_token_counts_as_a_users() -> None:
    clock = Clock()
    access = AccountAccess(now=clock)
    access.record(access_changed("root", clock.now, role="user"))
    old = principal("root", clock.now - timedelta(minutes=1), role="admin")
    assert access.check(old).role == "user"


def test_the_newest_change_wins_whatever_the_arrival_order() -> None:
    clock = Clock()
    access = AccountAccess(now=clock)
    disabled = access_changed("alice", clock.now, disabled=True, cut=clock.now)
    enabled = access_changed("alice", clock.now + timedelta(seconds=2), cut=clock.now)
    assert access.record(enabled)
    assert not access.record(disabled)  # older: a late duplicate, or auth's answer at start
    clock.now += timedelta(seconds=3)
    fresh = principal("alice", clock.now)
    assert access.check(fresh) == fresh


def test_a_change_is_forgotten_once_its_tokens_have_expired() -> None:
    clock = Clock()
    access = AccountAccess(now=clock)
    access.record(access_changed("alice", clock.now, disabled=True, cut=clock.now))
    clock.now += ACCESS_TTL
    assert len(access) == 1
    fresh = principal("alice", clock.now)
    assert access.check(fresh) == fresh  # an `enabled` lost in a broker outage does not lock her out
    access.record(access_changed("bob", clock.now))
    assert len(access) == 1  # alice's lapsed change is dropped


class Sockets:
    def __init__(self) -> None:
        self.users: list[str] = []

    def on_access_changed(self, user_id: str) -> int:
        self.users.append(user_id)
        return 1


def test_an_event_is_recorded_and_the_users_sockets_told_once() -> None:
    access, sockets = AccountAccess(), Sockets()
    event = access_changed("alice", datetime.now(UTC), disabled=True)
    record_access_change(event, access=access, sockets=sockets)
    record_access_change(event, access=access, sockets=sockets)  # redelivered: no news
    assert (
        Inboxes.of(UNCHECKED).access.read(b'{"type": "user.access_changed", "version": 2}', sender=None)
        is None
    )
    assert sockets.users == ["alice"]
    assert len(access) == 1


def test_an_access_change_counts_from_auth_only(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inboxes.of(SENDERS).access
    event = access_changed("alice", datetime.now(UTC), disabled=True)
    with caplog.at_level(logging.ERROR):
        for impostor in ("parley-history", "parley-gateway", None):
            assert inbox.read(event.to_json(), sender=impostor) is None
    forged = "on access changes: 'user.access_changed' sent by broker user 'parley-history'"
    assert forged in caplog.text
    assert inbox.read(event.to_json(), sender="parley-auth") == event


async def test_the_verifier_applies_the_access_change() -> None:
    issuer = TestIssuer(issuer="parley-auth", audience="parley")

    async def jwks() -> dict[str, object]:
        return issuer.jwks()

    verifier = JwksTokenVerifier(
        jwks, issuer="parley-auth", audience="parley", leeway_s=0, refetch_floor_s=0, clock=FakeClock()
    )
    token = issuer.token("alice", role="admin")
    assert (await verifier.verify(token)).role == "admin"
    now = datetime.now(UTC)
    verifier.access.record(access_changed("alice", now, role="user"))
    assert (await verifier.verify(token)).role == "user"
    verifier.access.record(access_changed("alice", now + timedelta(seconds=1), disabled=True, cut=now))
    with pytest.raises(CredentialRefused) as caught:
        await verifier.verify(token)
    assert caught.value.code == ErrorCode.ACCOUNT_DISABLED
