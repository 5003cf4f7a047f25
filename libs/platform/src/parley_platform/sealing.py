"""Sealing short secrets (provider keys of the catalogue, auth's signing keys) with AES-GCM
under a key derived from a secret that auth and the workers share
(`PARLEY_CATALOG_SECRET`), bound to what they belong to."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(ValueError):
    """A sealed value cannot be opened (another secret, another binding, or tampered with)."""


CATALOG_KEYS = "parley catalog provider key"
"""HKDF label of the keys that seal provider API keys (bound to the provider's id and URL)."""
SIGNING_KEYS = "parley auth signing key"
"""HKDF label of the keys that seal auth's private signing keys (bound to the key id)."""

WEAK_SECRETS = frozenset({"change-me-catalog-secret", "change-me", "changeme", "secret", "password"})
MIN_SECRET_LENGTH = 32


def secret_problem(secret: str) -> str | None:
    """Why `secret` is too weak to seal keys with (outside dev mode), or None."""
    if secret.strip().lower() in WEAK_SECRETS:
        return "is a published default"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def provider_binding(provider_id: UUID, base_url: str) -> str:
    """What a provider's sealed key is bound to: it opens for this provider at this URL only."""
    return f"{provider_id}\n{base_url}"


class Sealer:
    """Seals short secrets with AES-GCM under a key derived (HKDF-SHA256, one label per
    purpose) from a shared secret, bound to what they belong to (associated data).

    `v2.` values are the current format. `v1.` values (key = SHA-256 of the secret, no
    binding; catalogue keys sealed before) still open where `legacy` is set, so that no key
    is lost on upgrade; `needs_reseal` tells them apart, for sealing again."""

    _PREFIX = "v2."
    _LEGACY_PREFIX = "v1."

    def __init__(self, secret: str, *, purpose: str = CATALOG_KEYS, legacy: bool | None = None) -> None:
        if not secret:
            raise ValueError("the catalogue secret is empty")
        self._secret = secret
        self._purpose = purpose
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        self._aead = AESGCM(derived.derive(secret.encode()))
        use_legacy = purpose == CATALOG_KEYS if legacy is None else legacy
        self._legacy = AESGCM(hashlib.sha256(secret.encode()).digest()) if use_legacy else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Sealer | None:
        secret = (os.environ if environ is None else environ).get("PARLEY_CATALOG_SECRET", "")
        return cls(secret) if secret else None

    def for_purpose(self, purpose: str) -> Sealer:
        """A sealer of the same secret for another purpose (its own derived key)."""
        return Sealer(self._secret, purpose=purpose)

    def seal(self, plaintext: str, *, bound_to: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())
        return self._PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, bound_to: str) -> str:
        if sealed.startswith(self._PREFIX):
            aead, associated = self._aead, bound_to.encode()
        elif sealed.startswith(self._LEGACY_PREFIX) and self._legacy is not None:
            aead, associated = self._legacy, None
        else:
            raise SealError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(self._PREFIX) :])
            return aead.decrypt(raw[:12], raw[12:], associated).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealError(
                "the value was sealed with another secret, for something else, or altered"
            ) from exc

    @classmethod
    def needs_reseal(cls, sealed: str) -> bool:
        """True for a value in an older format (it opens, but should be sealed again)."""
        return not sealed.startswith(cls._PREFIX)
