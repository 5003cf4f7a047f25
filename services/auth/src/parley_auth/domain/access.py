"""When an account's access changes: what a disable, an enable, a role change, an ended
session or a new password records on the account (see `parley_auth.access`)."""

from __future__ import annotations

from datetime import datetime

from parley_auth.domain.accounts import Role
from parley_auth.domain.model import Account


def mark_changed(account: Account, *, was_disabled: bool, was_role: Role, now: datetime) -> bool:
    """Date the account's access change, if there was one; True when there was."""
    if account.disabled == was_disabled and account.role == was_role:
        return False
    account.access_changed_at = now
    if account.disabled and not was_disabled:
        account.tokens_not_before = now
    return True


def cut_tokens(account: Account, *, now: datetime) -> None:
    """Every access token of the account issued before now stops counting (a new password);
    one refreshed right after counts (`iat` has microseconds)."""
    account.access_changed_at = now
    account.tokens_not_before = now


def mark_session_ended(account: Account, *, now: datetime) -> None:
    account.access_changed_at = now
