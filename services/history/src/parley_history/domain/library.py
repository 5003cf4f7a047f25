"""Projects and saved prompts as their users see them: the limits on what they
hold, how names and tags are cleaned, and who may change a saved prompt."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from parley_history.domain.errors import InvalidInput, NotAllowed

NAME_MAX = 100
SYSTEM_PROMPT_MAX = 20_000
PROMPT_TEXT_MAX = 20_000
MODEL_MAX = 255
TAGS_MAX = 10
TAG_MAX = 32

PromptScope = Literal["all", "own", "shared"]
"""`own`: the user's saved prompts (shared or not); `shared`: every shared one;
`all`: both."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUL = "\x00"  # PostgreSQL text cannot hold it


def clean_name(value: str, *, what: str = "name") -> str:
    """A one-line name: trimmed, not blank, no control characters, at most NAME_MAX."""
    name = value.strip()
    if not name:
        raise InvalidInput(f"the {what} must not be blank")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"the {what} is longer than {NAME_MAX} characters")
    if _CONTROL.search(name):
        raise InvalidInput(f"the {what} must be one line without control characters")
    return name


def clean_text(value: str, *, what: str, limit: int) -> str:
    """Free text (a system prompt): not blank, bounded, no NUL; kept as written."""
    if not value.strip():
        raise InvalidInput(f"the {what} must not be blank")
    if len(value) > limit:
        raise InvalidInput(f"the {what} is longer than {limit} characters")
    if _NUL in value:
        raise InvalidInput(f"the {what} must not contain NUL characters")
    return value


def clean_optional_text(value: str | None, *, what: str, limit: int) -> str | None:
    """An optional default: None or blank means none."""
    if value is None or not value.strip():
        return None
    return clean_text(value, what=what, limit=limit)


def clean_query(value: str | None) -> str | None:
    """A search text (`q`): None when blank; PostgreSQL cannot compare NUL."""
    if value is None or not value.strip():
        return None
    if _NUL in value:
        raise InvalidInput("the search text must not contain NUL characters")
    return value.strip()


def clean_model(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    model = value.strip()
    if len(model) > MODEL_MAX or _CONTROL.search(model):
        raise InvalidInput(f"the model must be one line of at most {MODEL_MAX} characters")
    return model


def clean_tag(value: str) -> str:
    """A tag: trimmed, lower case, inner spaces collapsed, no commas or control characters."""
    tag = " ".join(value.split()).lower()
    if not tag:
        raise InvalidInput("a tag must not be blank")
    if len(tag) > TAG_MAX:
        raise InvalidInput(f"a tag is longer than {TAG_MAX} characters")
    if "," in tag or _CONTROL.search(tag):
        raise InvalidInput("a tag must not contain commas or control characters")
    return tag


def clean_tags(values: Iterable[str]) -> tuple[str, ...]:
    """Cleaned, without duplicates, sorted; at most TAGS_MAX."""
    tags = tuple(sorted({clean_tag(value) for value in values}))
    if len(tags) > TAGS_MAX:
        raise InvalidInput(f"at most {TAGS_MAX} tags")
    return tags


def encode_tags(tags: Iterable[str]) -> str:
    """Tags as stored: `,a,b,` (so that one tag matches `%,tag,%`), or ``."""
    joined = ",".join(tags)
    return f",{joined}," if joined else ""


def decode_tags(stored: str) -> tuple[str, ...]:
    return tuple(tag for tag in stored.split(",") if tag)


@dataclass(frozen=True)
class ProjectView:
    id: UUID
    name: str
    system_prompt: str | None
    model: str | None
    conversation_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PromptView:
    id: UUID
    owner_id: str
    name: str
    text: str
    tags: tuple[str, ...]
    shared: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PromptPage:
    items: tuple[PromptView, ...]
    next_cursor: str | None


def check_prompt_edit(prompt: PromptView, user_id: str) -> None:
    """Only the owner changes a saved prompt's name, text or tags, or deletes it."""
    if prompt.owner_id != user_id:
        raise NotAllowed("only the owner can change this saved prompt")


def check_prompt_share(prompt: PromptView, user_id: str, *, admin: bool, shared: bool) -> None:
    """The owner shares and unshares; an admin may unshare anyone's."""
    if prompt.owner_id == user_id or (admin and not shared):
        return
    if shared:
        raise NotAllowed("only the owner can share this saved prompt")
    raise NotAllowed("only the owner or an admin can unshare this saved prompt")
