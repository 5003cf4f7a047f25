"""The REST API's request and response bodies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, field_validator

from parley_history.domain.conversations import ConversationSummary, ConversationView, MessageView

_ISO_DAY_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_datetime(value: object) -> object:
    if isinstance(value, str) and not _ISO_DAY_START.match(value):
        raise ValueError("a time is ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)")
    return value


def _in_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # an offset that moves it past year 9999 or before year 1
        raise ValueError("the time is outside the calendar once in UTC") from exc


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime), AfterValidator(_in_utc)]
"""An ISO 8601 date-time only, as documented (pydantic alone would take a Unix timestamp too),
in UTC as the database compares it."""


class ConversationOut(BaseModel):
    id: UUID
    title: str
    pinned: bool
    model: str | None
    created_at: datetime
    updated_at: datetime
    project_id: UUID | None = Field(default=None, description="The project it is in, if any")


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end")


class MessageOut(BaseModel):
    id: UUID
    parent_id: UUID | None
    children: list[UUID]
    role: str
    content: str
    status: str = Field(description="pending, finished, failed or cancelled")
    created_at: datetime
    model: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    error_code: str | None = None
    error_message: str | None = None


class ConversationDetail(ConversationOut):
    system_prompt: str | None
    current_leaf_id: UUID | None = Field(description="The last message of the branch last shown")
    current_path: list[UUID] = Field(description="The branch last shown, root first")
    messages: list[MessageOut] = Field(description="Every message of every branch, oldest first")


class ConversationPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    pinned: bool | None = None
    project_id: UUID | None = Field(
        default=None,
        description="Move it into this project of the user's (`conversation.moved`); `null` moves it out "
        "of any. Absent: stays where it is.",
    )
    current_leaf_id: UUID | None = Field(
        default=None,
        description="Show the branch that ends at this message of the conversation "
        "(`conversation.branch_selected`); the path `current_path` follows it.",
    )

    @field_validator("title")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL: such a rename, once published, would be
        # an event that no store accepts and would hold the consumer's queue.
        if value is not None and "\x00" in value:
            raise ValueError("the title must not contain NUL characters")
        return value


class Health(BaseModel):
    status: str


def summary_out(summary: ConversationSummary) -> ConversationOut:
    return ConversationOut(**summary.__dict__)


def _message_out(message: MessageView) -> MessageOut:
    data = dict(message.__dict__)
    data["children"] = list(message.children)
    return MessageOut(**data)


def conversation_out(view: ConversationView) -> ConversationDetail:
    return ConversationDetail(
        **view.summary.__dict__,
        system_prompt=view.system_prompt,
        current_leaf_id=view.current_leaf_id,
        current_path=list(view.current_path),
        messages=[_message_out(message) for message in view.messages],
    )
