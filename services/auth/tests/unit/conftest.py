"""The account use cases on in-memory fakes: no database, no broker, no Argon2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from parley_auth import services
from parley_auth.domain.accounts import AccountPolicy
from parley_auth.domain.model import AccessClaims, Account, Tokens
from parley_auth.domain.throttle import KeyThrottle, LoginThrottle, RegistrationThrottle
from tests.fakes import FakeAccountStore, FakeClock, FakeHasher, FakeKeys, FakeMetrics, FakePublisher

PASSWORD = "correct horse battery"
ADDRESS = "198.51.100.7"
BOOTSTRAP_TOKEN = "b" * 32


@dataclass
class Ports:
    policy: AccountPolicy
    clock: FakeClock = field(default_factory=FakeClock)
    accounts: FakeAccountStore = field(default_factory=FakeAccountStore)
    hasher: FakeHasher = field(default_factory=FakeHasher)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    keys: FakeKeys = field(default_factory=FakeKeys)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)

    def __post_init__(self) -> None:
        tick = self.clock.monotonic
        self.throttle = LoginThrottle(per_account=5, per_ip=20, window_s=900, clock=tick)
        self.key_throttle = KeyThrottle(per_ip=20, per_prefix=5, window_s=900, clock=tick)
        self.registrations = RegistrationThrottle(per_ip=10, window_s=3600, clock=tick)

    async def register(
        self,
        email: str,
        password: str = PASSWORD,
        *,
        bootstrap_token: str | None = None,
        address: str = ADDRESS,
    ) -> Account:
        return await services.register(
            email, "Someone", password, address=address, bootstrap_token=bootstrap_token,
            accounts=self.accounts, hasher=self.hasher, throttle=self.registrations,
            publisher=self.publisher, policy=self.policy, clock=self.clock, metrics=self.metrics,
        )  # fmt: skip

    async def login(self, email: str, password: str = PASSWORD, *, address: str = ADDRESS) -> Tokens:
        return await services.login(
            email, password, address, accounts=self.accounts, hasher=self.hasher, throttle=self.throttle,
            issuer=self.keys, policy=self.policy, clock=self.clock, metrics=self.metrics,
        )  # fmt: skip

    async def refresh(self, token: str | None) -> Tokens:
        return await services.refresh(
            token, accounts=self.accounts, issuer=self.keys, publisher=self.publisher, policy=self.policy,
            clock=self.clock, metrics=self.metrics,
        )  # fmt: skip

    async def authenticate(self, access_token: str) -> tuple[Account, AccessClaims]:
        return await services.authenticate(
            access_token, verifier=self.keys, accounts=self.accounts, clock=self.clock
        )

    async def signed_in(self, email: str) -> tuple[Account, AccessClaims, Tokens]:
        """Register and sign in `email`: the account, its access token's claims, its tokens."""
        await self.register(email)
        tokens = await self.login(email)
        account, claims = await self.authenticate(tokens.access_token)
        return account, claims, tokens

    async def update(self, admin: Account, target: Account, **changes: Any) -> Account:
        values: dict[str, Any] = {
            "role": None,
            "disabled": None,
            "budget_tokens": None,
            "clear_budget": False,
        }
        return await services.admin_update_user(
            admin.id, target.id, **(values | changes), accounts=self.accounts, publisher=self.publisher,
            policy=self.policy, clock=self.clock,
        )  # fmt: skip


def make_ports(**policy: Any) -> Ports:
    return Ports(AccountPolicy(**{"bootstrap_token": BOOTSTRAP_TOKEN, **policy}))


@pytest.fixture
def ports() -> Ports:
    return make_ports()
