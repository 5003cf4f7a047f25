"""Private signing keys at rest, on a real PostgreSQL database of their own: sealed under a
key derived from PARLEY_CATALOG_SECRET (bound to the key id), rows stored plain before are
sealed when the ring loads them, and tokens signed before and after still verify."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from parley_auth.__main__ import migrate
from parley_auth.adapters.keys import KeyRing, key_sealer, new_signing_key_row
from parley_auth.adapters.repository import Database
from parley_auth.settings import Settings
from parley_platform.sealing import Sealer
from tests.conftest import fresh_postgres, in_thread

SECRET = "signing-keys-test-secret-of-at-least-32-characters"
PLAIN = "BEGIN PRIVATE KEY"


@pytest.fixture(scope="module")
def keys_database_url() -> Iterator[str]:
    with fresh_postgres("parley_auth_keys") as url:
        in_thread(migrate, url)
        yield url


@pytest.fixture
async def db(keys_database_url: str) -> AsyncIterator[Database]:
    database = Database(keys_database_url)
    async with database.transaction() as repo:
        await repo.session.execute(text("DELETE FROM signing_keys"))
    try:
        yield database
    finally:
        await database.close()


async def _stored(db: Database) -> dict[str, str]:
    async with db.transaction() as repo:
        rows = await repo.session.execute(text("SELECT kid, private_pem FROM signing_keys"))
        return {kid: pem for kid, pem in rows.all()}


def _ring(sealer: Sealer | None) -> KeyRing:
    return KeyRing(issuer="parley-auth", audience="parley", access_ttl_s=900, sealer=sealer)


async def test_plain_keys_are_sealed_when_loaded_and_still_sign(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as repo:  # a key as auth stored it before: plain PEM
        await repo.add_signing_key(new_signing_key_row(now), now)
    plain = await _stored(db)
    assert all(PLAIN in pem for pem in plain.values())
    without = _ring(None)
    async with db.transaction() as repo:
        await without.load(repo, now)
    token = without.issue(sub="u1", role="user", now=now)

    ring = _ring(Sealer(SECRET))
    async with db.transaction() as repo:
        await ring.load(repo, now)
    stored = await _stored(db)
    assert set(stored) == set(plain)
    assert not any(PLAIN in pem for pem in stored.values())
    assert ring.verify(token, now).sub == "u1"  # signed while plain, verified once sealed
    assert ring.active().kid in stored

    async with db.transaction() as repo:  # a new key is stored sealed from the start
        await repo.add_signing_key(new_signing_key_row(now, sealer=key_sealer(Sealer(SECRET))), now)
    async with db.transaction() as repo:
        await ring.load(repo, now)
    stored = await _stored(db)
    assert len(stored) == 2
    assert not any(PLAIN in pem for pem in stored.values())
    assert ring.verify(ring.issue(sub="u2", role="user", now=now), now).sub == "u2"


async def test_a_key_sealed_with_another_secret_is_left_out_not_fatal(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as repo:
        await _ring(Sealer(SECRET)).load(repo, now)
    [first] = await _stored(db)
    other = _ring(Sealer("another-secret-of-at-least-32-characters!"))
    async with db.transaction() as repo:
        await other.load(repo, now)  # cannot open the first: signs with a new key
    assert other.active().kid != first
    assert [k["kid"] for k in other.jwks(now)["keys"]] == [other.active().kid]


def test_a_weak_catalogue_secret_is_refused_outside_dev_mode() -> None:
    base = {"database_url": "postgresql://postgres@127.0.0.1:5432/postgres"}
    for weak in ("change-me-catalog-secret", "change-me", "x" * 31):
        with pytest.raises(ValueError, match="PARLEY_CATALOG_SECRET"):
            Settings.model_validate({**base, "catalog_secret": weak})
        assert Settings.model_validate({**base, "catalog_secret": weak, "dev": True}).catalog_secret
    assert Settings.model_validate({**base, "catalog_secret": SECRET}).catalog_secret


def test_sealing_keys_derive_apart_by_purpose() -> None:
    """A sealed signing key does not open as a provider key, nor the other way round."""
    catalogue = Sealer(SECRET)
    signing = catalogue.for_purpose("parley auth signing key")
    sealed = signing.seal("pem", bound_to="kid-1")
    assert signing.open(sealed, bound_to="kid-1") == "pem"
    with pytest.raises(ValueError, match="sealed"):
        catalogue.open(sealed, bound_to="kid-1")
    with pytest.raises(ValueError, match="sealed"):
        signing.open(sealed, bound_to="kid-2")
