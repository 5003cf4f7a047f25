"""Conversations as the owner sees them: titles, the message tree, export, cursors."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

import orjson

from parley_history.domain.errors import InvalidCursor

FALLBACK_TITLE_WORDS = 8
TITLE_MAX_CHARS = 80
UNTITLED = "New chat"

ProjectFilter = UUID | Literal["none"] | None
"""Listing conversations: those of one project, those in no project (`"none"`), or all (None)."""

TITLE_INSTRUCTION = (
    "Write a short title (at most six words) for the conversation below. "
    "Answer with the title only: no quotes, no punctuation at the end."
)


def fallback_title(prompt: str, *, words: int = FALLBACK_TITLE_WORDS) -> str:
    """The first words of the first prompt: the title until the model's arrives."""
    parts = prompt.split()
    if not parts:
        return UNTITLED
    title = " ".join(parts[:words])
    if len(parts) > words:
        title += "…"
    return title[:TITLE_MAX_CHARS]


def clean_title(text: str) -> str | None:
    """A model's title answer as a title: first non-empty line, no quotes or
    label, bounded; None when nothing usable is left."""
    for raw in text.splitlines():
        line = re.sub(r"^\s*(title\s*:)\s*", "", raw.strip(), flags=re.IGNORECASE)
        line = line.strip().strip("\"'`*#").strip().rstrip(".")
        if line:
            return line[:TITLE_MAX_CHARS]
    return None


def title_conversation_text(prompt: str, answer: str, *, limit: int = 2000) -> str:
    return f"User: {prompt[:limit]}\n\nAssistant: {answer[:limit]}"


@dataclass(frozen=True)
class MessageView:
    id: UUID
    parent_id: UUID | None
    role: str
    content: str
    status: str
    created_at: datetime
    model: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    children: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class ConversationSummary:
    id: UUID
    title: str
    pinned: bool
    model: str | None
    created_at: datetime
    updated_at: datetime
    project_id: UUID | None = None


@dataclass(frozen=True)
class ConversationView:
    summary: ConversationSummary
    system_prompt: str | None
    current_leaf_id: UUID | None
    messages: tuple[MessageView, ...] = field(default=())

    @property
    def current_path(self) -> tuple[UUID, ...]:
        """The branch last shown: from the root down to the current leaf."""
        return branch_path(self.messages, self.current_leaf_id)


def with_children(messages: list[MessageView]) -> tuple[MessageView, ...]:
    """`messages` (oldest first) with each one's children filled in, oldest first."""
    children: dict[UUID, list[UUID]] = {}
    for message in messages:
        if message.parent_id is not None:
            children.setdefault(message.parent_id, []).append(message.id)
    return tuple(
        MessageView(**{**message.__dict__, "children": tuple(children.get(message.id, ()))})
        for message in messages
    )


def branch_path(messages: tuple[MessageView, ...], leaf: UUID | None) -> tuple[UUID, ...]:
    by_id = {message.id: message for message in messages}
    path: list[UUID] = []
    node = by_id.get(leaf) if leaf is not None else None
    while node is not None and node.id not in path:
        path.append(node.id)
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    return tuple(reversed(path))


def render_markdown(view: ConversationView) -> str:
    """The branch last shown, as Markdown."""
    by_id = {message.id: message for message in view.messages}
    lines = [f"# {view.summary.title}", ""]
    lines.append(
        f"_Created {view.summary.created_at.isoformat()}; updated {view.summary.updated_at.isoformat()}_"
    )
    lines.append("")
    if view.system_prompt:
        lines += ["**System**", "", view.system_prompt, ""]
    for message_id in view.current_path:
        message = by_id[message_id]
        if message.role == "user":
            lines += ["## User", "", message.content, ""]
            continue
        heading = "## Assistant" + (f" ({message.model})" if message.model else "")
        lines += [heading, ""]
        if message.status == "failed":
            lines += [f"> generation failed: {message.error_code}: {message.error_message}", ""]
        elif message.status == "pending":
            lines += ["> (no answer recorded yet)", ""]
        else:
            lines += [message.content, ""]
            if message.status == "cancelled":
                lines += ["> (stopped)", ""]
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class Cursor:
    """Where the next page of a newest-first listing starts (exclusive)."""

    updated_at: datetime
    id: UUID

    def encode(self) -> str:
        raw = orjson.dumps({"u": self.updated_at.isoformat(), "i": str(self.id)})
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw: Any = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            # In UTC here, as the database compares it: a crafted offset can move a time
            # near either end of the calendar out of it.
            when = datetime.fromisoformat(raw["u"])
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            return cls(when, UUID(raw["i"]))
        except (
            binascii.Error,
            orjson.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            OverflowError,
        ) as exc:
            raise InvalidCursor("the cursor is not one this service issued") from exc


class Listed(Protocol):
    """A row of a newest-first listing: a conversation or a saved prompt."""

    @property
    def updated_at(self) -> datetime: ...

    @property
    def id(self) -> UUID: ...


L = TypeVar("L", bound=Listed)


def cut_page(rows: list[L], limit: int) -> tuple[list[L], str | None]:
    """`rows`: up to `limit + 1` rows of a newest-first listing (the extra one tells that more
    follow). The page, and the cursor of the next one, which starts after the page's last row."""
    page = rows[:limit]
    if len(rows) <= limit or not page:
        return page, None
    return page, Cursor(page[-1].updated_at, page[-1].id).encode()


@dataclass(frozen=True)
class TitleRequest:
    """A conversation's first answer arrived and it has no title yet: ask a model for one."""

    conversation_id: UUID
    user_id: str
    model: str
    message_id: UUID
    prompt: str
    answer: str


@dataclass(frozen=True)
class Applied:
    """What storing one event did."""

    duplicate: bool
    title_request: TitleRequest | None = None


@dataclass(frozen=True)
class Page:
    items: tuple[ConversationSummary, ...]
    next_cursor: str | None
