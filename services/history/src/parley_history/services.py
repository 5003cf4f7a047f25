"""Use cases: what the consumer and the routes call."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from parley_contracts import (
    DOMAIN_EVENTS,
    BranchSelected,
    ChatMessage,
    ConversationDeleted,
    ConversationPinned,
    ConversationRenamed,
    DomainEvent,
    GenerationParams,
    PromptSubmitted,
    UnsupportedEvent,
    utcnow,
)
from parley_contracts.access import AccessRevoked, effective_role
from parley_contracts.senders import UNCHECKED, Senders
from parley_contracts.topology import HISTORY_EVENTS
from parley_history.adapters.tokens import Principal
from parley_history.domain.conversations import (
    TITLE_INSTRUCTION,
    Applied,
    ConversationView,
    TitleRequest,
    render_markdown,
    title_conversation_text,
)
from parley_history.domain.errors import InvalidInput, NotAuthenticated
from parley_history.ports import AccessStore, BatchApplier, ConversationStore, EventApplier, EventPublisher
from parley_platform.inbox import Inbox

log = logging.getLogger(__name__)

CONSUMED_PREFIXES = (
    "prompt.submitted",
    "completion.",
    "conversation.",
    "project.",
    "library.prompt.",
    "user.access_changed",
)
"""What `history.events` is bound to; replay from the stream skips everything else."""


def consumes(event_type: str) -> bool:
    return event_type.startswith(CONSUMED_PREFIXES)


def inbox(senders: Senders = UNCHECKED) -> Inbox[DomainEvent]:
    """How history reads `history.events`: every domain event, each from its publishers only
    (`senders`). The consumer dead-letters what it refuses, with the reason."""
    return Inbox(*DOMAIN_EVENTS, senders=senders, where=HISTORY_EVENTS.name, logger=log)


ANY_SENDER = inbox()
"""Replay, and tests: the events are history's own log, no sender to check."""


def decode(body: bytes, *, sent_by: str | None = None, read: Inbox[DomainEvent] = ANY_SENDER) -> DomainEvent:
    """The event in `body`, or `UnsupportedEvent` (malformed, unknown type or version, not one
    history consumes, or `sent_by` a broker user that does not publish it)."""
    event = read.decode(body, sender=sent_by)
    if not consumes(event.type):
        raise UnsupportedEvent(f"history does not consume {event.type!r}", type_=event.type)
    return event


@dataclass(frozen=True)
class Handled:
    event: DomainEvent
    applied: Applied


async def handle_event(
    body: bytes,
    *,
    store: EventApplier,
    publisher: EventPublisher | None,
    title_reply_to: str | None,
    sent_by: str | None = None,
    read: Inbox[DomainEvent] = ANY_SENDER,
) -> Handled:
    """Store one event from the broker; after the first answer of an untitled
    conversation, ask for a title (only with a publisher and a reply queue
    name: replay never asks)."""
    event = decode(body, sent_by=sent_by, read=read)
    applied = await store.apply(event, body.decode())
    handled = Handled(event, applied)
    await _ask_titles([handled], publisher=publisher, title_reply_to=title_reply_to)
    return handled


async def handle_events(
    events: Sequence[tuple[DomainEvent, bytes]],
    *,
    store: BatchApplier,
    publisher: EventPublisher | None,
    title_reply_to: str | None,
) -> list[Handled]:
    """`handle_event` for decoded events that arrived together, stored in one transaction
    (the consumer's way through a backlog: a commit per event was most of its time)."""
    applied = await store.apply_batch([(event, body.decode()) for event, body in events])
    handled = [Handled(event, one) for (event, _), one in zip(events, applied, strict=True)]
    await _ask_titles(handled, publisher=publisher, title_reply_to=title_reply_to)
    return handled


async def _ask_titles(
    handled: Sequence[Handled], *, publisher: EventPublisher | None, title_reply_to: str | None
) -> None:
    if publisher is None or title_reply_to is None:
        return
    for one in handled:
        request = one.applied.title_request
        if request is None:
            continue
        try:
            await publisher.publish(title_prompt(request, reply_to=title_reply_to))
        except Exception as exc:  # the first words of the prompt stay the title
            log.warning("title request for conversation %s not published: %s", request.conversation_id, exc)


def title_prompt(request: TitleRequest, *, reply_to: str) -> PromptSubmitted:
    """A prompt event marked as a title request: workers answer it like any other;
    history turns its `completion.finished` into the conversation's title."""
    return PromptSubmitted(
        user_id=request.user_id,
        session_id=request.message_id,
        request_id=f"title:{request.conversation_id}",
        conversation_id=request.conversation_id,
        message_id=request.message_id,
        prompt_message_id=request.message_id,
        model=request.model,
        messages=(
            ChatMessage(role="system", content=TITLE_INSTRUCTION),
            ChatMessage(role="user", content=title_conversation_text(request.prompt, request.answer)),
        ),
        params=GenerationParams(temperature=0.2, max_tokens=24),
        reply_to=reply_to,
        purpose="title",
    )


async def record(event: DomainEvent, *, store: EventApplier, publisher: EventPublisher) -> None:
    """Publish `event` on `chat.events` (so the audit stream and a replay see it) and apply
    it now; the consumer's copy then changes nothing (same `event_id`)."""
    await publisher.publish(event)
    await store.apply(event, event.to_json().decode())


async def _change(
    event: ConversationRenamed | ConversationPinned, *, store: ConversationStore, publisher: EventPublisher
) -> ConversationView:
    """`record` a change of the user's conversation (`ConversationNotFound` when it is not
    theirs, before anything is published); the conversation after it."""
    await store.get_conversation(event.user_id, event.conversation_id)
    await record(event, store=store, publisher=publisher)
    return await store.get_conversation(event.user_id, event.conversation_id)


async def rename(
    user_id: str, conversation_id: UUID, title: str, *, store: ConversationStore, publisher: EventPublisher
) -> ConversationView:
    """Publish `conversation.renamed` and apply it now (`record`)."""
    event = ConversationRenamed(user_id=user_id, conversation_id=conversation_id, title=title)
    return await _change(event, store=store, publisher=publisher)


async def delete(
    user_id: str, conversation_id: UUID, *, store: ConversationStore, publisher: EventPublisher
) -> None:
    await store.get_conversation(user_id, conversation_id)
    event = ConversationDeleted(user_id=user_id, conversation_id=conversation_id)
    await record(event, store=store, publisher=publisher)


async def set_pinned(
    user_id: str, conversation_id: UUID, pinned: bool, *, store: ConversationStore, publisher: EventPublisher
) -> ConversationView:
    """Publish `conversation.pinned` and apply it now (`record`)."""
    event = ConversationPinned(user_id=user_id, conversation_id=conversation_id, pinned=pinned)
    return await _change(event, store=store, publisher=publisher)


async def select_branch(
    user_id: str, conversation_id: UUID, leaf_id: UUID, *, store: ConversationStore, publisher: EventPublisher
) -> ConversationView:
    """Publish `conversation.branch_selected` and apply it now; the leaf must be a message of
    this conversation (`InvalidInput` otherwise)."""
    view = await store.get_conversation(user_id, conversation_id)
    if all(m.id != leaf_id for m in view.messages):
        raise InvalidInput("current_leaf_id is not a message of this conversation")
    event = BranchSelected(user_id=user_id, conversation_id=conversation_id, leaf_id=leaf_id)
    await record(event, store=store, publisher=publisher)
    return await store.get_conversation(user_id, conversation_id)


def export_markdown(view: ConversationView) -> str:
    return render_markdown(view)


@dataclass
class ReplayReport:
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    seconds: float = 0.0


async def replay(bodies: AsyncIterator[bytes], *, target: BatchApplier, batch: int = 500) -> ReplayReport:
    """Rebuild a projection (and its audit log) from event bodies in their original
    order, `batch` events per transaction. Events history does not consume are
    skipped; nothing is published."""
    report = ReplayReport()
    started = time.perf_counter()
    pending: list[tuple[DomainEvent, str]] = []

    async def flush() -> None:
        for applied in await target.apply_batch(pending):
            if applied.duplicate:
                report.duplicates += 1
            else:
                report.stored += 1
        pending.clear()

    async for body in bodies:
        report.events += 1
        try:
            pending.append((decode(body), body.decode()))
        except UnsupportedEvent as exc:
            report.skipped += 1
            log.debug("replay skips a message: %s", exc.reason)
            continue
        if len(pending) >= batch:
            await flush()
    if pending:
        await flush()
    report.seconds = time.perf_counter() - started
    return report


async def authorize(principal: Principal, *, store: AccessStore) -> Principal:
    """`principal` as the account's access allows now: a token of a disabled account, one
    issued before its last disable or password change, or one of an ended session, is refused
    (`NotAuthenticated`); a demoted admin's old token counts as a user's."""
    change = await store.access_change(principal.user_id)
    if change is None:
        return principal
    try:
        role = effective_role(
            change,
            role=principal.role,
            issued_at=principal.issued_at,
            now=utcnow(),
            session_id=principal.session_id,
        )
    except AccessRevoked as exc:
        raise NotAuthenticated(exc.reason) from exc
    return principal if role == principal.role else dataclasses.replace(principal, role=role)
