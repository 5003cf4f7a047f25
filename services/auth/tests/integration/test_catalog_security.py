"""The catalogue's guards around provider keys and addresses, on the real PostgreSQL and
RabbitMQ: a key never follows its provider to another host, a sealed key opens only for
its provider and URL, older sealed keys are sealed again at start, and base URLs on
internal addresses are refused (host names resolved by a stub, never by DNS)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parley_auth import catalog
from parley_auth.settings import Settings
from parley_contracts.catalog import CatalogProvider, CatalogUpdated
from parley_platform import egress
from parley_platform.sealing import Sealer, SealError, provider_binding
from parley_testkit import StubResolver
from tests.integration.conftest import Api, User, make_settings
from tests.integration.test_catalog import CATALOG, SECRET, Events, bind_events

INTERNAL_HOSTS = {"internal.test": ["10.0.0.5"], "metadata.test": ["169.254.169.254"]}
MIXED = {"mixed.test": ["203.0.113.9", "127.0.0.1"]}


@pytest.fixture
async def settings(postgres_url: str, amqp_url: str) -> Settings:
    """Nothing internal allowed (PARLEY_AUTH_CATALOG_EGRESS_ALLOW unset)."""
    return make_settings(postgres_url, amqp_url, catalog_secret=SECRET)


@pytest.fixture(autouse=True)
def _resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(egress, "resolve", StubResolver({**INTERNAL_HOSTS, **MIXED}, default=["203.0.113.7"]))


@pytest.fixture
async def events(api: Api, amqp_url: str) -> AsyncIterator[Events]:
    async for value in bind_events(amqp_url):
        yield value


async def _create(admin: User, base_url: str, **body: Any) -> dict[str, Any]:
    body = {"name": f"p-{secrets.token_hex(4)}", "base_url": base_url, **body}
    response = await admin.http.post(f"{CATALOG}/providers", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _patch(admin: User, provider_id: str, **body: Any) -> dict[str, Any]:
    response = await admin.http.patch(f"{CATALOG}/providers/{provider_id}", headers=admin.headers, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _published(event: CatalogUpdated, provider_id: str) -> CatalogProvider:
    return {p.id: p for p in event.providers}[uuid.UUID(provider_id)]


def _opened(provider: CatalogProvider) -> str:
    assert provider.sealed_key is not None
    return Sealer(SECRET).open(provider.sealed_key, bound_to=provider_binding(provider.id, provider.base_url))


async def test_a_key_never_follows_its_provider_to_another_host(admin: User, events: Events) -> None:
    created = await _create(admin, "https://api.example.com/v1", api_key="sk-original-0000-abcd")
    pid = created["id"]
    first = _published(await events.next(user_id=admin.id), pid)
    assert _opened(first) == "sk-original-0000-abcd"

    moved = await _patch(admin, pid, base_url="https://api.example.com/v2")  # same host: kept
    assert (moved["has_key"], moved["key_last4"]) == (True, "abcd")
    same_host = _published(await events.next(user_id=admin.id), pid)
    assert _opened(same_host) == "sk-original-0000-abcd"  # sealed again, for the new URL
    old_binding = provider_binding(first.id, first.base_url)
    with pytest.raises(SealError):  # and no longer for the old one
        Sealer(SECRET).open(same_host.sealed_key or "", bound_to=old_binding)

    for base_url in ("https://attacker.example.net/v2", "http://attacker.example.net:8443/v2"):
        moved = await _patch(admin, pid, base_url=base_url)
        assert (moved["has_key"], moved["key_last4"]) == (False, None)
        assert _published(await events.next(user_id=admin.id), pid).sealed_key is None

    rekeyed = await _patch(admin, pid, base_url="https://other.example.org/v1", api_key="sk-other-33334444")
    assert (rekeyed["has_key"], rekeyed["key_last4"]) == (True, "4444")  # a new key in the same change
    assert _opened(_published(await events.next(user_id=admin.id), pid)) == "sk-other-33334444"


def test_a_sealed_key_opens_for_its_own_provider_and_url_only() -> None:
    sealer = Sealer(SECRET)
    a, b = uuid.uuid4(), uuid.uuid4()
    sealed = sealer.seal("sk-a", bound_to=provider_binding(a, "https://a.example/v1"))
    assert sealer.open(sealed, bound_to=provider_binding(a, "https://a.example/v1")) == "sk-a"
    for other in (
        provider_binding(b, "https://a.example/v1"),
        provider_binding(a, "https://evil.example/v1"),
    ):
        with pytest.raises(SealError):
            sealer.open(sealed, bound_to=other)


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://169.254.169.254/latest", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/v1", "a cloud metadata address"),
        ("http://127.0.0.1:8000/v1", "a loopback address"),
        ("http://[::1]:8000/v1", "a loopback address"),
        ("http://[::ffff:10.0.0.1]/v1", "a private address"),
        ("http://192.168.1.10/v1", "a private address"),
        ("http://100.64.0.1/v1", "a shared (CGNAT) address"),
        ("http://0.0.0.0:8000/v1", "an unspecified address"),
        ("http://internal.test/v1", "a private address"),
        ("http://metadata.test/v1", "a cloud metadata address"),
        ("http://mixed.test/v1", "a loopback address"),
    ],
)
async def test_base_urls_on_internal_addresses_are_refused(admin: User, base_url: str, reason: str) -> None:
    body = {"name": f"p-{secrets.token_hex(4)}", "base_url": base_url}
    refused = await admin.http.post(f"{CATALOG}/providers", headers=admin.headers, json=body)
    assert refused.status_code == 422, refused.text
    assert reason in refused.text
    assert "PARLEY_AUTH_CATALOG_EGRESS_ALLOW" in refused.text
    for address in ("10.0.0.5", "169.254.169.254", "127.0.0.1"):
        if address not in base_url:
            assert address not in refused.text  # what a name resolved to is never told

    provider = await _create(admin, "https://api.example.com/v1")
    changed = await admin.http.patch(
        f"{CATALOG}/providers/{provider['id']}", headers=admin.headers, json={"base_url": base_url}
    )
    assert changed.status_code == 422, changed.text
    listing = (await admin.http.get(CATALOG, headers=admin.headers)).json()
    assert {p["id"]: p["base_url"] for p in listing["providers"]}[
        provider["id"]
    ] == "https://api.example.com/v1"


async def test_the_operator_allows_chosen_internal_networks(postgres_url: str, amqp_url: str) -> None:
    settings = make_settings(
        postgres_url, amqp_url, catalog_secret=SECRET, catalog_egress_allow="10.0.0.0/8, 127.0.0.1"
    )
    policy = settings.catalog_egress()
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("127.0.0.2") == "a loopback address"
    assert policy.refusal("169.254.169.254") == "a cloud metadata address"
    with pytest.raises(ValueError, match="PARLEY_AUTH_CATALOG_EGRESS_ALLOW"):
        make_settings(postgres_url, amqp_url, catalog_egress_allow="10.0.0.0/8,intranet")


def _legacy_seal(secret: str, key: str) -> str:
    """A provider key as auth sealed it before: AES-GCM under SHA-256(secret), bound to nothing."""
    nonce = os.urandom(12)
    sealed = AESGCM(hashlib.sha256(secret.encode()).digest()).encrypt(nonce, key.encode(), None)
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


async def test_keys_sealed_the_old_way_still_open_and_are_sealed_again_at_start(
    api: Api, admin: User
) -> None:
    provider = await _create(admin, "https://legacy.example.com/v1")
    pid = uuid.UUID(provider["id"])
    async with api.auth.db.transaction() as repo:
        row = await repo.catalog.provider(pid)
        assert row is not None
        row.sealed_key = _legacy_seal(SECRET, "sk-legacy-0000-wxyz")
        await repo.catalog.flush()
    before = {p.id: p for p in (await catalog.current(auth=api.auth)).providers}[pid]
    assert (before.sealed_key or "").startswith("v1.")
    assert _opened(before) == "sk-legacy-0000-wxyz"  # a worker still opens it

    await catalog.reseal(auth=api.auth)  # what auth runs at start
    after = {p.id: p for p in (await catalog.current(auth=api.auth)).providers}[pid]
    assert (after.sealed_key or "").startswith("v2.")
    assert _opened(after) == "sk-legacy-0000-wxyz"
    with pytest.raises(SealError):  # now bound: it does not open for another provider
        Sealer(SECRET).open(after.sealed_key or "", bound_to=provider_binding(uuid.uuid4(), after.base_url))
