"""Query pieces the stores share: a newest-first page after a cursor, a LIKE pattern."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, and_, or_

from parley_history.adapters.orm import Conversation, SavedPrompt
from parley_history.domain.conversations import Cursor

Row = TypeVar("Row", Conversation, SavedPrompt)


def newest_first(statement: Select[Row], row: type[Row], cursor: Cursor | None, limit: int) -> Select[Row]:
    """`statement`'s rows most recently changed first, from after `cursor`, one more than
    `limit` (so that `cut_page` knows whether a next page follows)."""
    if cursor is not None:
        statement = statement.where(
            or_(
                row.updated_at < cursor.updated_at,
                and_(row.updated_at == cursor.updated_at, row.id < cursor.id),
            )
        )
    return statement.order_by(row.updated_at.desc(), row.id.desc()).limit(limit + 1)


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape `\\`) matching `text` anywhere."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
