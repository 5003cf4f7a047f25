"""Who is on a socket."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The subject of a verified access token."""

    user_id: str
    role: str
    expires_at: float
    """The token's `exp`, in seconds since the epoch."""
