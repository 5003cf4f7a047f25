"""The model catalogue's use cases on in-memory fakes (mirrors integration/test_catalog.py,
test_catalog_security.py and test_catalog_seed.py): revisions, provider keys, base URLs
against the egress policy (names resolved by a stub, nothing connected to), the seed."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parley_auth.domain.catalog import Model, Provider
from parley_auth.domain.errors import Conflict, NotFound, PolicyViolation, Unavailable
from parley_auth.services import catalog
from parley_auth.services.catalog_keys import reseal
from parley_auth.services.catalog_seed import seed
from parley_contracts.catalog import CatalogUpdated
from parley_platform import egress
from parley_platform.egress import EgressPolicy
from parley_platform.sealing import Sealer, provider_binding
from parley_testkit import StubResolver
from tests.fake_catalog import FakeCatalogStore
from tests.fakes import FakeClock, FakePublisher

SECRET = "s" * 40
ADMIN = "admin-1"


@dataclass
class Admin:
    sealer: Sealer | None = field(default_factory=lambda: Sealer(SECRET))
    egress_policy: EgressPolicy = field(default_factory=lambda: EgressPolicy.parse(""))
    catalog: FakeCatalogStore = field(default_factory=FakeCatalogStore)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    clock: FakeClock = field(default_factory=FakeClock)

    def _ports(self) -> dict[str, Any]:
        return {"catalog": self.catalog, "publisher": self.publisher, "clock": self.clock}

    def _keys(self) -> dict[str, Any]:
        return {"sealer": self.sealer, "egress_policy": self.egress_policy}

    async def provider(self, base_url: str = "https://api.example.com/v1", **more: Any) -> Provider:
        values = {"name": f"p-{uuid.uuid4().hex[:6]}", "api_key": None} | more
        return await catalog.create_provider(
            ADMIN, base_url=base_url, **values, **self._ports(), **self._keys()
        )

    async def update_provider(self, provider: Provider, **changes: Any) -> Provider:
        return await catalog.update_provider(ADMIN, provider.id, changes, **self._ports(), **self._keys())

    async def model(self, provider: Provider, **more: Any) -> Model:
        fields = {
            "name": f"m-{uuid.uuid4().hex[:6]}", "provider_id": provider.id, "upstream": "up",
            "enabled": True, "context_window": 8192, "max_tokens": 1024, "input_price_per_mtok": 0.0,
            "output_price_per_mtok": 0.0, "concurrency": None, "defaults": {},
        } | more  # fmt: skip
        return await catalog.create_model(ADMIN, fields, **self._ports())

    def announced(self) -> list[CatalogUpdated]:
        return [e for e in self.publisher.published if isinstance(e, CatalogUpdated)]

    def key_of(self, provider: Provider) -> str:
        stored = self.catalog.state.providers[provider.id]
        assert self.sealer is not None
        assert stored.sealed_key is not None
        return self.sealer.open(stored.sealed_key, bound_to=provider_binding(stored.id, stored.base_url))


@pytest.fixture
def admin() -> Admin:
    return Admin()


async def test_the_revision_grows_with_every_change_and_each_is_announced(admin: Admin) -> None:
    provider = await admin.provider()
    model = await admin.model(provider)
    await catalog.update_model(ADMIN, model.id, {"enabled": False}, **admin._ports())
    await catalog.delete_model(ADMIN, model.id, **admin._ports())
    await catalog.delete_provider(ADMIN, provider.id, **admin._ports())
    assert [e.revision for e in admin.announced()] == [1, 2, 3, 4, 5]
    assert all(e.user_id == ADMIN for e in admin.announced())
    assert [len(e.models) for e in admin.announced()] == [0, 1, 1, 0, 0]
    assert (await catalog.read(catalog=admin.catalog)).revision == 5
    assert (await catalog.current(catalog=admin.catalog)).user_id == "system"


async def test_a_refused_change_changes_nothing_and_announces_nothing(admin: Admin) -> None:
    provider = await admin.provider(name="one")
    await admin.model(provider, name="taken")
    for refused, error in [
        (admin.provider(name="one"), Conflict),
        (admin.model(provider, name="taken"), Conflict),
        (admin.model(provider, max_tokens=9000), PolicyViolation),
        (admin.model(provider, provider_id=uuid.uuid4()), PolicyViolation),
        (catalog.delete_provider(ADMIN, provider.id, **admin._ports()), Conflict),
        (catalog.delete_model(ADMIN, uuid.uuid4(), **admin._ports()), NotFound),
    ]:
        with pytest.raises(error):
            await refused
    assert admin.catalog.state.revision == 2
    assert len(admin.announced()) == 2


async def test_a_change_is_kept_when_its_announcement_fails(admin: Admin) -> None:
    admin.publisher.up = False
    provider = await admin.provider()
    assert provider.id in admin.catalog.state.providers
    admin.publisher.up = True
    assert (await catalog.announce(catalog=admin.catalog, publisher=admin.publisher)).revision == 1


async def test_a_key_is_write_only_and_sealed_to_its_provider(admin: Admin) -> None:
    provider = await admin.provider(api_key="sk-live-0000-abcd")
    assert (provider.has_key, provider.key_last4) == (True, "abcd")
    assert admin.key_of(provider) == "sk-live-0000-abcd"
    assert "sk-live" not in str(admin.announced()[-1].model_dump())
    short = await admin.provider(api_key="sk-1")
    assert (short.has_key, short.key_last4) == (True, None)


async def test_without_a_secret_a_key_is_refused_and_keyless_providers_work() -> None:
    admin = Admin(sealer=None)
    with pytest.raises(Unavailable):
        await admin.provider(api_key="sk-live-0000-abcd")
    provider = await admin.provider()
    with pytest.raises(Unavailable):
        await admin.update_provider(provider, api_key="sk-live-0000-abcd")
    assert admin.catalog.state.revision == 1


async def test_a_host_change_drops_the_key_and_a_path_change_keeps_it(admin: Admin) -> None:
    provider = await admin.provider("https://api.example.com/v1", api_key="sk-live-0000-abcd")
    moved_path = await admin.update_provider(provider, base_url="https://api.example.com/v2")
    assert admin.key_of(moved_path) == "sk-live-0000-abcd"  # sealed again for the new URL
    for other in ("https://api.example.com:8443/v2", "http://api.example.com/v2", "https://evil.test/v2"):
        await admin.update_provider(
            provider, api_key="sk-live-0000-abcd", base_url="https://api.example.com/v2"
        )
        moved = await admin.update_provider(provider, base_url=other)
        assert (moved.has_key, moved.key_last4) == (False, None), other
    with_key = await admin.update_provider(
        provider, base_url="https://new.example.com/v1", api_key="sk-new-00001234"
    )
    assert admin.key_of(with_key) == "sk-new-00001234"
    removed = await admin.update_provider(provider, api_key="")
    assert not removed.has_key


async def test_base_urls_are_checked_against_the_egress_policy(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = StubResolver({"intranet.test": ["10.1.2.3"], "mixed.test": ["203.0.113.9", "127.0.0.1"]},
                            default=["203.0.113.7"])  # fmt: skip
    monkeypatch.setattr(egress, "resolve", resolver)
    for internal in (
        "http://127.0.0.1:8000/v1",
        "http://[::1]/v1",
        "http://intranet.test/v1",
        "http://mixed.test/v1",
    ):
        with pytest.raises(PolicyViolation) as refused:
            await admin.provider(internal)
        assert refused.value.field == "base_url"
        assert "10.1.2.3" not in refused.value.detail  # the kind of address, never the address
    provider = await admin.provider("https://api.example.com/v1")
    with pytest.raises(PolicyViolation):
        await admin.update_provider(provider, base_url="http://intranet.test/v1")
    assert admin.catalog.state.revision == 1
    allowed = Admin(egress_policy=EgressPolicy.parse("10.0.0.0/8"))
    assert (await allowed.provider("http://intranet.test/v1")).base_url == "http://intranet.test/v1"
    assert "intranet.test" in resolver.asked


async def test_a_host_that_does_not_resolve_here_is_accepted(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(egress, "resolve", nowhere)
    assert (await admin.provider("https://cluster-only.internal/v1")).has_key is False


def _legacy_seal(secret: str, key: str) -> str:
    """A provider key as auth sealed it before: AES-GCM under SHA-256(secret), bound to nothing."""
    nonce = os.urandom(12)
    sealed = AESGCM(hashlib.sha256(secret.encode()).digest()).encrypt(nonce, key.encode(), None)
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


async def test_old_format_keys_are_sealed_again_and_unopenable_ones_left(admin: Admin) -> None:
    old, other_secret = await admin.provider(), await admin.provider()
    admin.catalog.state.providers[old.id].sealed_key = _legacy_seal(SECRET, "sk-legacy-0000-wxyz")
    unopenable = _legacy_seal("t" * 40, "sk-other-0000-wxyz")
    admin.catalog.state.providers[other_secret.id].sealed_key = unopenable
    assert await reseal(catalog=admin.catalog, sealer=None) == 0
    assert await reseal(catalog=admin.catalog, sealer=admin.sealer) == 1
    assert (admin.catalog.state.providers[old.id].sealed_key or "").startswith("v2.")
    assert admin.key_of(old) == "sk-legacy-0000-wxyz"
    assert admin.catalog.state.providers[other_secret.id].sealed_key == unopenable


ENTRIES = [
    {"name": "local", "base_url": "http://127.0.0.1:8081/v1", "model": "qwen"},
    {"name": "cloud", "base_url": "https://api.x.com/v1", "model": "gpt", "api_key_env": "X_KEY"},
]


async def _seed(admin: Admin, entries: list[dict[str, Any]], environ: dict[str, str] | None = None) -> bool:
    return await seed(
        entries, source="models.yaml", environ=environ or {}, catalog=admin.catalog,
        publisher=admin.publisher, clock=admin.clock, sealer=admin.sealer,
    )  # fmt: skip


async def test_the_seed_fills_a_fresh_catalogue_and_follows_the_file_until_an_admin_changes_it(
    admin: Admin,
) -> None:
    assert await _seed(admin, ENTRIES, {"X_KEY": "sk-cloud-0000-1234"})
    [event] = admin.announced()
    assert (event.revision, event.user_id) == (1, "system")
    assert {(m.name, m.enabled) for m in event.models} == {("local", True), ("cloud", True)}
    assert not await _seed(admin, ENTRIES)  # the same file: nothing to do
    assert await _seed(admin, ENTRIES[:1])  # another file, no admin change: seeded again
    assert [m.name for m in admin.announced()[-1].models] == ["local"]
    await admin.provider()
    assert not await _seed(admin, ENTRIES)  # the admin's now
    assert admin.catalog.state.revision == 3


async def test_a_seeded_model_whose_key_is_not_here_is_disabled(admin: Admin) -> None:
    assert await _seed(admin, ENTRIES)
    assert {(m.name, m.enabled) for m in admin.announced()[-1].models} == {("local", True), ("cloud", False)}
