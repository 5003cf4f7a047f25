"""Secrets handed out once and stored hashed: refresh tokens and API keys."""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "pk_"
_SHOWN_LENGTH = 10
"""How much of a key its owner's list shows (`pk_` and 7 more): also its throttling bucket."""


def secret_hash(secret: str) -> str:
    """Refresh tokens and API keys are 256-bit random: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def shown_part(api_key: str) -> str:
    """The part of a key its owner's list shows, and the bucket its failed exchanges count in."""
    return api_key[:_SHOWN_LENGTH]
