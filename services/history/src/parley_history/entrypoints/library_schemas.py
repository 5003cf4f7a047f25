"""Request and response bodies of projects and the prompt library."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from parley_history.domain.library import (
    MODEL_MAX,
    NAME_MAX,
    PROMPT_TEXT_MAX,
    SYSTEM_PROMPT_MAX,
    TAG_MAX,
    TAGS_MAX,
    ProjectView,
    PromptView,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX)]
SystemPrompt = Annotated[str, StringConstraints(max_length=SYSTEM_PROMPT_MAX)]
Model = Annotated[str, StringConstraints(max_length=MODEL_MAX)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=PROMPT_TEXT_MAX)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=TAG_MAX)]
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX)]


class ProjectIn(BaseModel):
    name: Name
    system_prompt: SystemPrompt | None = Field(default=None, description="Default system prompt of new chats")
    model: Model | None = Field(default=None, description="Default model of new chats")


class ProjectPatch(BaseModel):
    """Only the fields given change; `null` clears `system_prompt` or `model`."""

    name: Name | None = None
    system_prompt: SystemPrompt | None = None
    model: Model | None = None


class ProjectOut(BaseModel):
    id: UUID
    name: str
    system_prompt: str | None
    model: str | None
    conversation_count: int
    created_at: datetime
    updated_at: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]


class PromptIn(BaseModel):
    name: Name
    text: Text
    tags: Tags = Field(default_factory=list, description=f"At most {TAGS_MAX}; stored lower case, sorted")
    shared: bool = Field(default=False, description="Visible to every user")


class PromptPatch(BaseModel):
    """Only the fields given change. `name`, `text`, `tags`: the owner only;
    `shared`: the owner, or an admin setting it to false."""

    name: Name | None = None
    text: Text | None = None
    tags: Tags | None = None
    shared: bool | None = None


class PromptOut(BaseModel):
    id: UUID
    name: str
    text: str
    tags: list[str]
    shared: bool
    mine: bool = Field(description="The caller owns it (and so may edit, share or delete it)")
    created_at: datetime
    updated_at: datetime


class PromptPageOut(BaseModel):
    items: list[PromptOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end")


class TagCount(BaseModel):
    tag: str
    count: int = Field(description="How many of the saved prompts the user may see carry it")


class TagList(BaseModel):
    items: list[TagCount]


def project_out(view: ProjectView) -> ProjectOut:
    return ProjectOut(**view.__dict__)


def prompt_out(view: PromptView, user_id: str) -> PromptOut:
    return PromptOut(
        id=view.id,
        name=view.name,
        text=view.text,
        tags=list(view.tags),
        shared=view.shared,
        mine=view.owner_id == user_id,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )
