"""`user.access_changed` -> `account_access`, inside the caller's transaction: the account's
row follows its latest change by `(occurred_at, event_id)`, whatever order events arrive in."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from parley_contracts import UserAccessChanged
from parley_history.adapters.orm import AccountAccess
from parley_history.domain.versions import version


async def project_access(session: AsyncSession, event: UserAccessChanged) -> None:
    row = await session.get(AccountAccess, event.user_id)
    at, event_id = version(event)
    if row is None:
        row = AccountAccess(user_id=event.user_id)
        session.add(row)
    elif (at, event_id) <= (row.occurred_at, row.event_id):
        return
    row.disabled, row.role = event.disabled, event.role
    row.tokens_not_before, row.relevant_until = event.tokens_not_before, event.relevant_until
    row.sessions_ended = list(event.sessions_ended)
    row.occurred_at, row.event_id = at, event_id


def as_event(row: AccountAccess) -> UserAccessChanged:
    return UserAccessChanged(
        event_id=row.event_id,
        occurred_at=row.occurred_at,
        user_id=row.user_id,
        disabled=row.disabled,
        role="admin" if row.role == "admin" else "user",
        tokens_not_before=row.tokens_not_before,
        sessions_ended=tuple(row.sessions_ended or ()),
        relevant_until=row.relevant_until,
    )
