"""Who is on a socket, and what an admin's change of their account's access takes away."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from parley_contracts import UserAccessChanged, utcnow
from parley_contracts.access import AccessRevoked, effective_role, newer
from parley_gateway.domain.errors import CredentialRefused, ErrorCode


@dataclass(frozen=True)
class Principal:
    """The subject of a verified access token."""

    user_id: str
    role: str
    expires_at: float
    """The token's `exp`, in seconds since the epoch."""
    issued_at: float | None = None
    """The token's `iat`, in seconds since the epoch (None: the token has none)."""
    session_id: str | None = None
    """The token's `sid`: the sign-in it belongs to (None: a token from an API key)."""


class AccountAccess:
    """The latest access change of each account whose access changed lately, from
    `user.access_changed` (live, and auth's answer when this process starts).

    `check` refuses a verified token that its account's access no longer allows and caps its
    role. A change is forgotten once every token issued before it has expired
    (`relevant_until`), so one lost `enabled` event does not lock a user out for good."""

    def __init__(self, *, now: Callable[[], datetime] = utcnow) -> None:
        self._now = now
        self._changes: dict[str, UserAccessChanged] = {}

    def record(self, change: UserAccessChanged) -> bool:
        """Keep `change` if it is the account's latest; True when it was kept."""
        now = self._now()
        for user_id in [u for u, c in self._changes.items() if c.relevant_until <= now]:
            del self._changes[user_id]
        if change.relevant_until <= now or not newer(change, self._changes.get(change.user_id)):
            return False
        self._changes[change.user_id] = change
        return True

    def check(self, principal: Principal) -> Principal:
        """`principal` as its account's access allows now; `CredentialRefused` when it does not."""
        change = self._changes.get(principal.user_id)
        if change is None:
            return principal
        try:
            role = effective_role(
                change,
                role=principal.role,
                issued_at=principal.issued_at,
                now=self._now(),
                session_id=principal.session_id,
            )
        except AccessRevoked as exc:
            code = ErrorCode.ACCOUNT_DISABLED if exc.disabled else ErrorCode.TOKEN_REVOKED
            raise CredentialRefused(code, exc.reason) from exc
        return principal if role == principal.role else dataclasses.replace(principal, role=role)

    def __len__(self) -> int:
        return len(self._changes)
