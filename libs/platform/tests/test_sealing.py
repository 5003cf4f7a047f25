"""Sealed keys: HKDF-derived per purpose, bound to what they belong to, the older format
still opening (to be sealed again), and the secrets too weak to seal with."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parley_platform.sealing import SIGNING_KEYS, Sealer, SealError, provider_binding, secret_problem

SECRET = "a-sealing-test-secret-of-at-least-32-characters"


def _v1(secret: str, plaintext: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(hashlib.sha256(secret.encode()).digest()).encrypt(nonce, plaintext.encode(), None)
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


def test_a_sealed_key_is_bound_to_its_provider_and_url() -> None:
    sealer, a, b = Sealer(SECRET), uuid.uuid4(), uuid.uuid4()
    sealed = sealer.seal("sk-a", bound_to=provider_binding(a, "https://a.example/v1"))
    assert sealed.startswith("v2.")
    assert not Sealer.needs_reseal(sealed)
    assert sealer.open(sealed, bound_to=provider_binding(a, "https://a.example/v1")) == "sk-a"
    for wrong in (provider_binding(b, "https://a.example/v1"), provider_binding(a, "https://b.example/v1")):
        with pytest.raises(SealError):
            sealer.open(sealed, bound_to=wrong)
    with pytest.raises(SealError):
        Sealer(SECRET + "x").open(sealed, bound_to=provider_binding(a, "https://a.example/v1"))


def test_keys_sealed_in_the_older_format_still_open_for_the_catalogue_only() -> None:
    old = _v1(SECRET, "sk-old")
    assert Sealer.needs_reseal(old)
    assert Sealer(SECRET).open(old, bound_to="anything") == "sk-old"
    with pytest.raises(SealError):
        Sealer(SECRET).for_purpose(SIGNING_KEYS).open(old, bound_to="kid")


def test_each_purpose_has_its_own_key() -> None:
    signing = Sealer(SECRET).for_purpose(SIGNING_KEYS)
    sealed = signing.seal("pem", bound_to="kid-1")
    with pytest.raises(SealError):
        Sealer(SECRET).open(sealed, bound_to="kid-1")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("change-me-catalog-secret", "published default"),
        ("change-me", "published default"),
        ("x" * 31, "shorter than 32"),
        ("x" * 32, None),
    ],
)
def test_weak_secrets(secret: str, problem: str | None) -> None:
    found = secret_problem(secret)
    assert (found is None) if problem is None else (problem in (found or ""))
