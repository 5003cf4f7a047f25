"""Account access as every verifier of access tokens applies it (owned by auth).

Auth publishes `user.access_changed` on `chat.events` when an admin disables an
account, enables it again or changes its role. The gateway and history verify
access tokens locally, so without it a disabled user's token would work until it
expires; with it, they refuse it at once (`effective_role`). A verifier that
starts later asks auth for the changes that still matter on `access.requests`
(request-reply, as workers ask for the catalogue) and gets `RecentAccessChanges`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from parley_contracts.events import UserAccessChanged

ACCESS_REQUESTS = "access.requests"
"""Queue auth answers access requests on (durable, classic, no arguments; any body)."""

ADMIN = "admin"
USER = "user"


class RecentAccessChanges(BaseModel):
    """Auth's answer on `access.requests`: the latest change of every account changed
    within the last access-token lifetime (older changes cannot matter any more)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    changes: tuple[UserAccessChanged, ...] = ()


class AccessRevoked(Exception):
    """The token's account lost its access after the token was issued: `disabled` while the
    account is disabled, else the token predates the account's last disable."""

    def __init__(self, reason: str, *, disabled: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.disabled = disabled


def newer(change: UserAccessChanged, than: UserAccessChanged | None) -> bool:
    """Whether `change` is later than `than` (by `occurred_at`, then the UUIDv7 `event_id`)."""
    return than is None or (change.occurred_at, change.event_id) > (than.occurred_at, than.event_id)


def effective_role(
    change: UserAccessChanged | None,
    *,
    role: str,
    issued_at: float | None,
    now: datetime,
    session_id: str | None = None,
) -> str:
    """The role a verified token of the account still carries, given the account's latest
    access change; raises `AccessRevoked` when the token must be refused.

    While the account is disabled, every token is refused; a token issued (`iat`, to the
    microsecond from auth) before `tokens_not_before` is refused, and so is a token of an
    ended session; a token's role counts only as far as the account's current role allows,
    so a demoted admin's old token is a user's."""
    if change is None or change.relevant_until <= now:
        return role
    if change.disabled:
        raise AccessRevoked("the account is disabled", disabled=True)
    cutoff = change.tokens_not_before
    if cutoff is not None and (issued_at is None or issued_at < cutoff.timestamp()):
        raise AccessRevoked(
            "the token was issued before the account's access changed (disabled, or a new "
            "password); sign in again",
            disabled=False,
        )
    if session_id is not None and session_id in change.sessions_ended:
        raise AccessRevoked("the session has ended; sign in again", disabled=False)
    return role if role == change.role else USER
