"""Who registers, and who becomes admin (mirrors integration/test_accounts.py on fakes)."""

from __future__ import annotations

import pytest

from parley_auth import services
from parley_auth.domain.accounts import Role
from parley_auth.domain.errors import Conflict, Forbidden, NotFound, PolicyViolation, Throttled
from tests.unit.conftest import BOOTSTRAP_TOKEN, Ports, make_ports


async def test_being_first_makes_nobody_admin(ports: Ports) -> None:
    assert (await ports.register("first@parley.dev")).role is Role.USER


async def test_the_admin_email_makes_nobody_admin_outside_dev() -> None:
    ports = make_ports(admin_email="boss@parley.dev")
    assert (await ports.register("Boss@Parley.dev")).role is Role.USER


async def test_in_dev_the_first_account_or_the_admin_email_is_admin() -> None:
    dev = make_ports(dev=True)
    assert [(await dev.register(e)).role for e in ("a@parley.dev", "b@parley.dev")] == [Role.ADMIN, Role.USER]
    named = make_ports(dev=True, admin_email="boss@parley.dev")
    await named.register("someone@parley.dev")
    assert (await named.register("boss@parley.dev")).role is Role.ADMIN


async def test_the_bootstrap_token_makes_the_first_admin_once(ports: Ports) -> None:
    await ports.register("early@parley.dev")
    admin = await ports.register("root@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)
    assert admin.role is Role.ADMIN
    with pytest.raises(Forbidden):
        await ports.register("second@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)
    assert await _emails(ports) == {"early@parley.dev", "root@parley.dev"}


async def test_the_bootstrap_token_works_again_once_no_admin_is_enabled(ports: Ports) -> None:
    admin = await ports.register("root@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)
    stored = ports.accounts.accounts[admin.id]
    stored.disabled = True
    assert (await ports.register("next@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)).role is Role.ADMIN


@pytest.mark.parametrize("token", ["x" * 32, BOOTSTRAP_TOKEN[:-1]])
async def test_a_wrong_bootstrap_token_is_refused_not_ignored(ports: Ports, token: str) -> None:
    with pytest.raises(Forbidden):
        await ports.register("root@parley.dev", bootstrap_token=token)
    assert ports.accounts.accounts == {}


async def test_with_an_admin_email_the_bootstrap_token_works_for_that_address_only() -> None:
    ports = make_ports(admin_email="boss@parley.dev")
    with pytest.raises(Forbidden):
        await ports.register("other@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)
    assert (await ports.register("BOSS@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)).role is Role.ADMIN


async def test_no_bootstrap_token_configured_refuses_any_presented() -> None:
    ports = make_ports(bootstrap_token=None)
    with pytest.raises(Forbidden):
        await ports.register("root@parley.dev", bootstrap_token=BOOTSTRAP_TOKEN)


@pytest.mark.parametrize("again", ["Dev@Parley.Dev", " dev@parley.dev ", "\uff44\uff45\uff56@parley.dev"])
async def test_one_address_registers_once_however_it_is_written(ports: Ports, again: str) -> None:
    first = await ports.register("dev@parley.dev")
    assert (first.email, first.email_norm) == ("dev@parley.dev", "dev@parley.dev")
    hashes = ports.hasher.hashes
    with pytest.raises(Conflict):
        await ports.register(again)
    assert ports.hasher.hashes == hashes  # refused before any hashing


async def test_a_look_alike_of_an_existing_address_is_refused(ports: Ports) -> None:
    await ports.register("ace@parley.dev")
    with pytest.raises(PolicyViolation) as refused:
        await ports.register("\u0430\u0441\u0435@parley.dev")  # Cyrillic a, c, e
    assert refused.value.field == "email"


async def test_an_address_mixing_alphabets_is_refused(ports: Ports) -> None:
    with pytest.raises(PolicyViolation) as refused:
        await ports.register("d\u0435v@parley.dev")  # a Cyrillic e among Latin letters
    assert refused.value.field == "email"
    assert ports.accounts.accounts == {}


@pytest.mark.parametrize("password", ["short", "password123", "aaaaaaaaaa", "dev@parley.dev"])
async def test_the_password_policy(ports: Ports, password: str) -> None:
    with pytest.raises(PolicyViolation):
        await ports.register("dev@parley.dev", password)


async def test_registrations_are_throttled_per_address(ports: Ports) -> None:
    for n in range(10):
        await ports.register(f"u{n}@parley.dev")
    with pytest.raises(Throttled):
        await ports.register("u10@parley.dev")
    await ports.register("u10@parley.dev", address="198.51.100.8")


async def test_registration_is_announced_and_counted_even_with_the_broker_down(ports: Ports) -> None:
    user = await ports.register("a@parley.dev")
    [event] = ports.publisher.of_type("user.registered")
    assert event.model_dump()["user_id"] == str(user.id)
    ports.publisher.up = False
    await ports.register("b@parley.dev")
    assert await _emails(ports) == {"a@parley.dev", "b@parley.dev"}
    assert ports.metrics.registrations.value == 2
    assert ports.accounts.registrations == 2  # each decided its role in its turn


async def test_grant_admin(ports: Ports) -> None:
    user = await ports.register("ops@parley.dev")
    granted = await services.registration.grant_admin(
        "OPS@parley.dev", accounts=ports.accounts, clock=ports.clock
    )
    assert granted.id == user.id
    assert ports.accounts.accounts[user.id].role is Role.ADMIN
    with pytest.raises(NotFound):
        await services.registration.grant_admin(
            "nobody@parley.dev", accounts=ports.accounts, clock=ports.clock
        )


async def _emails(ports: Ports) -> set[str]:
    return {a.email for a in ports.accounts.accounts.values()}
