"""`HistoryStore` on SQLAlchemy: PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from parley_contracts import DomainEvent, UserAccessChanged
from parley_history.adapters.access_projection import as_event
from parley_history.adapters.audit_chain import AuditChain, audit_record
from parley_history.adapters.library_repository import LibraryQueries
from parley_history.adapters.orm import AccountAccess, AuditHead, AuditLog, Conversation, Message
from parley_history.adapters.paging import like_pattern, newest_first
from parley_history.adapters.projection import project
from parley_history.adapters.views import message_view, summary_view
from parley_history.domain.audit import (
    AuditKey,
    AuditRecord,
    ChainHead,
    ChainReport,
    ChainVerifier,
)
from parley_history.domain.conversations import (
    Applied,
    ConversationView,
    Cursor,
    Page,
    ProjectFilter,
    cut_page,
    with_children,
)
from parley_history.domain.errors import ConversationNotFound, StoreUnavailable

T = TypeVar("T")

_VERIFY_BATCH = 1000


class SqlHistoryStore(LibraryQueries):
    """`audit_key` signs the audit rows it appends and checks them in `verify`; without it
    they are written unsigned (tests; never in a process that serves or consumes)."""

    def __init__(self, engine: AsyncEngine, *, audit_key: AuditKey | None = None) -> None:
        self.engine = engine
        self.audit_key = audit_key
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def _run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        try:
            async with self._sessions() as session, session.begin():
                return await work(session)
        except (DBAPIError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Every database error counts as an outage, not only lost connections
            # (a database refusing connections, disk full, a missing migration):
            # for an audit log, holding events until an operator fixes the
            # database beats dead-lettering them.
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc

    async def ping(self) -> None:
        async def work(session: AsyncSession) -> None:
            await session.execute(text("SELECT 1"))

        await self._run(work)

    async def access_change(self, user_id: str) -> UserAccessChanged | None:
        async def work(session: AsyncSession) -> UserAccessChanged | None:
            row = await session.get(AccountAccess, user_id)
            return None if row is None else as_event(row)

        return await self._run(work)

    # -- the write path: one transaction per event --------------------------------

    async def apply(self, event: DomainEvent, body: str) -> Applied:
        """Append `event` to the audit log and project it, once per `event_id`."""

        async def work(session: AsyncSession) -> Applied:
            chain = await AuditChain.locked(session, self.audit_key)
            applied = await _apply(session, chain, event, body)
            await chain.write(session)
            return applied

        return await self._run(work)

    async def apply_batch(self, items: Sequence[tuple[DomainEvent, str]]) -> list[Applied]:
        """`apply` for many events in one transaction (replay: one commit per batch)."""

        async def work(session: AsyncSession) -> list[Applied]:
            chain = await AuditChain.locked(session, self.audit_key)
            ids = [event.event_id for event, _ in items]
            seen = set(await session.scalars(select(AuditLog.event_id).where(AuditLog.event_id.in_(ids))))
            results = []
            for event, body in items:
                results.append(await _apply(session, chain, event, body, seen=seen))
                seen.add(event.event_id)
            await chain.write(session)
            return results

        return await self._run(work)

    async def set_pinned(self, user_id: str, conversation_id: UUID, pinned: bool) -> None:
        async def work(session: AsyncSession) -> None:
            conversation = await _owned(session, user_id, conversation_id)
            conversation.pinned = pinned

        await self._run(work)

    # -- the read path ---------------------------------------------------------

    async def list_conversations(
        self,
        user_id: str,
        *,
        query: str | None,
        limit: int,
        cursor: Cursor | None,
        project: ProjectFilter = None,
    ) -> Page:
        async def work(session: AsyncSession) -> Page:
            statement = select(Conversation).where(
                Conversation.user_id == user_id,
                Conversation.deleted_at.is_(None),
                Conversation.fallback_title.is_not(None),
            )
            if project == "none":
                statement = statement.where(Conversation.project_id.is_(None))
            elif project is not None:
                statement = statement.where(Conversation.project_id == project)
            if query and query.strip():
                statement = statement.where(self._matches(session, query.strip()))
            rows = list(await session.scalars(newest_first(statement, Conversation, cursor, limit)))
            page, next_cursor = cut_page(rows, limit)
            return Page(tuple(summary_view(row) for row in page), next_cursor)

        return await self._run(work)

    @staticmethod
    def _matches(session: AsyncSession, query: str) -> ColumnElement[bool]:
        title = func.coalesce(Conversation.title, Conversation.fallback_title, "")
        chat = and_(Message.conversation_id == Conversation.id, Message.purpose == "chat")
        if session.get_bind().dialect.name == "postgresql":
            tsquery = func.websearch_to_tsquery("simple", query)
            in_title = func.to_tsvector("simple", title).op("@@")(tsquery)
            in_text = exists().where(chat, func.to_tsvector("simple", Message.content).op("@@")(tsquery))
            return or_(in_title, in_text)
        # SQLite: a case-insensitive substring match.
        pattern = like_pattern(query.lower())
        in_title = func.lower(title).like(pattern, escape="\\")
        return or_(in_title, exists().where(chat, func.lower(Message.content).like(pattern, escape="\\")))

    async def get_conversation(self, user_id: str, conversation_id: UUID) -> ConversationView:
        async def work(session: AsyncSession) -> ConversationView:
            conversation = await _owned(session, user_id, conversation_id)
            rows = await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.purpose == "chat")
                # a prompt and its answer share a timestamp: the prompt first
                .order_by(Message.created_at, case((Message.role == "user", 0), else_=1), Message.id)
            )
            messages = with_children([message_view(row) for row in rows])
            return ConversationView(
                summary=summary_view(conversation),
                system_prompt=conversation.system_prompt,
                current_leaf_id=conversation.current_leaf_id,
                messages=messages,
            )

        return await self._run(work)

    # -- the audit log ------------------------------------------------------------

    async def audit_records(
        self,
        *,
        conversation_id: UUID | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        batch: int = 500,
    ) -> AsyncIterator[AuditRecord]:
        """The matching rows in chain order, read in batches (no long transaction)."""
        after = 0
        while True:
            statement = select(AuditLog).where(AuditLog.seq > after)
            if conversation_id is not None:
                statement = statement.where(AuditLog.conversation_id == conversation_id)
            if user_id is not None:
                statement = statement.where(AuditLog.user_id == user_id)
            if since is not None:
                statement = statement.where(AuditLog.occurred_at >= since)
            statement = statement.order_by(AuditLog.seq).limit(batch)

            async def work(session: AsyncSession, statement: object = statement) -> list[AuditRecord]:
                return [audit_record(row) for row in await session.scalars(statement)]  # type: ignore[call-overload]

            records = await self._run(work)
            for record in records:
                yield record
            if len(records) < batch:
                return
            after = records[-1].seq

    async def verify(self, *, require_signed: bool = False) -> ChainReport:
        """Walk the whole chain, checking signatures with `audit_key`: the rows checked and
        the first broken link, if any (`domain.audit.ChainVerifier`)."""
        verifier = ChainVerifier(self.audit_key, require_signed=require_signed)
        async for record in self.audit_records(batch=_VERIFY_BATCH):
            if verifier.feed([record]) is not None:
                return verifier.report()

        async def head(session: AsyncSession) -> ChainHead:
            row = await session.get(AuditHead, 1)
            return ChainHead(0, "") if row is None else ChainHead(row.seq, row.hash, row.mac, row.mac_key_id)

        verifier.finish(await self._run(head))
        return verifier.report()

    async def event_count(self) -> int:
        async def work(session: AsyncSession) -> int:
            row = await session.get(AuditHead, 1)
            return 0 if row is None else row.seq

        return await self._run(work)

    async def close(self) -> None:
        await self.engine.dispose()

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await self.ping()
                return
            except StoreUnavailable:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await asyncio.sleep(0.2)


async def _apply(
    session: AsyncSession, chain: AuditChain, event: DomainEvent, body: str, *, seen: set[UUID] | None = None
) -> Applied:
    """`seen`: the event ids known to be stored (a batch looks them up at once)."""
    if seen is not None:
        if event.event_id in seen:
            return Applied(duplicate=True)
    elif await session.scalar(select(AuditLog.seq).where(AuditLog.event_id == event.event_id)) is not None:
        return Applied(duplicate=True)
    chain.append(event, body, getattr(event, "conversation_id", None))
    title = await project(session, event)
    return Applied(duplicate=False, title_request=title)


async def _owned(session: AsyncSession, user_id: str, conversation_id: UUID) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if (
        conversation is None
        or conversation.user_id != user_id
        or conversation.deleted_at is not None
        or conversation.fallback_title is None
    ):
        raise ConversationNotFound(str(conversation_id))
    return conversation
