"""The history service's tables (SQLAlchemy 2 declarative). Alembic owns the schema
(`migrations/`); these models must match it (a test compares them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Dialect, Float, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    title_source: Mapped[str | None] = mapped_column(String(16))
    """None (no title yet), "model" or "user"; a user's rename wins over the model's title."""
    fallback_title: Mapped[str | None] = mapped_column(Text)
    """The first words of the first prompt; None until a prompt was seen."""
    title_message_id: Mapped[UUID | None] = mapped_column(Uuid)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(255))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    current_leaf_id: Mapped[UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    project_id: Mapped[UUID | None] = mapped_column(Uuid, index=True)
    """The project it was moved into, if any (a deleted project's conversations have none)."""

    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at", "id"),)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    conversation_id: Mapped[UUID] = mapped_column(Uuid, index=True)
    parent_id: Mapped[UUID | None] = mapped_column(Uuid)
    role: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(8))
    """"chat", "title", or None while only the outcome (not the prompt) was seen."""
    status: Mapped[str] = mapped_column(String(16))
    """pending, finished, failed, cancelled."""
    content: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(255))
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    worker_id: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """Append-only: every consumed event, hash-chained (see `domain.audit`)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[UUID] = mapped_column(Uuid, unique=True)
    type: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[str | None] = mapped_column(String(255), index=True)
    conversation_id: Mapped[UUID | None] = mapped_column(Uuid, index=True)
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When this database stored it (not hashed: a replay stores it again later)."""
    mac: Mapped[str | None] = mapped_column(String(64))
    """HMAC-SHA256 of (seq, hash) under the audit key (`domain.audit.AuditKey`); None on
    rows written before the key was set."""
    mac_key_id: Mapped[str | None] = mapped_column(String(16))


class AuditHead(Base):
    """One row (id=1): the chain's last seq and hash, and their signature. Writers lock it,
    so that appends are serialized across consumer processes."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))
    mac_key_id: Mapped[str | None] = mapped_column(String(16))


class Project(Base):
    """A user's named group of conversations, with defaults for new chats in it.
    A deleted project stays as a tombstone (so late events for it change nothing)."""

    __tablename__ = "projects"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(Text)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SavedPrompt(Base):
    """A system prompt in the library: private to its owner (`user_id`) or shared
    with every user. A deleted one stays as a tombstone."""

    __tablename__ = "saved_prompts"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="")
    """`,a,b,` (sorted, see `domain.library.encode_tags`), or `` without tags."""
    shared: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FieldVersion(Base):
    """Which event last set a field of a projected row (`entity_id`: a conversation, message,
    project or saved prompt), as (`occurred_at`, `event_id`): so that "last write wins" is
    decided by when things happened, never by the order their events arrived in."""

    __tablename__ = "field_versions"

    entity_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[UUID] = mapped_column(Uuid)


class AccountAccess(Base):
    """The latest `user.access_changed` of each account whose access an admin changed (by
    `occurred_at`, then `event_id`): which of its access tokens are refused, and the role they
    may still claim (`parley_contracts.access.effective_role`)."""

    __tablename__ = "account_access"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    disabled: Mapped[bool] = mapped_column(Boolean)
    role: Mapped[str] = mapped_column(String(16))
    tokens_not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sessions_ended: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    relevant_until: Mapped[datetime] = mapped_column(UTCDateTime)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[UUID] = mapped_column(Uuid)
