"""A realistic event log for ordering tests: many users' conversations, projects and
saved prompts, as the gateway, the workers and history's own routes and title requests
publish them, in the order they happened (`occurred_at`, never decreasing).

Every event type history consumes appears: prompts (new chats, some inside a project,
follow-ups, regenerations, edits), answers finished, failed and cancelled (and a few
finished twice, as when a worker dies after publishing and the request is redelivered),
title requests and their answers, renames, pins, branch selections, moves, deletes
(with generations still running), projects created, updated and deleted, and saved
prompts saved, edited, shared, unshared by an admin and deleted, and (last) accounts
disabled, enabled again, promoted and demoted by an admin. A few events share
their `occurred_at` (two tabs, one instant), so that ties are decided by `event_id`.

Everything, ids included, comes from the seed: the same seed gives the same log.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from parley_contracts import (
    BranchSelected,
    ChatMessage,
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    ConversationDeleted,
    ConversationMoved,
    ConversationPinned,
    ConversationRenamed,
    DomainEvent,
    GenerationParams,
    PromptSubmitted,
    Usage,
)
from parley_history.domain.answers import title_message_id
from parley_history.domain.conversations import TitleRequest
from parley_history.services import title_prompt
from tests.library_activity import LibraryActivity, SavedPrompt

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class _UserMessage:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    text: str


@dataclass
class _Chat:
    id: uuid.UUID
    user: str
    model: str
    system: str | None
    user_messages: list[_UserMessage] = field(default_factory=list)
    answers: list[uuid.UUID] = field(default_factory=list)
    first_question: str = ""
    busy: bool = False
    """An answer is being generated: the user waits for it (or stops it) before the next prompt."""
    titled: bool = False
    renamed: bool = False
    deleted: bool = False
    pinned: bool = False


@dataclass
class _Generation:
    prompt: PromptSubmitted
    chat: _Chat
    redo: bool = False


class EventLog(LibraryActivity):
    """`events`: the log, in the order things happened."""

    def __init__(self, seed: int, *, conversations: int = 30, users: int = 4) -> None:
        self._rng = random.Random(seed)
        self._now = START
        self._users = [f"user{u}" for u in range(users)]
        self._target = conversations
        self._chats: list[_Chat] = []
        self._running: list[_Generation] = []
        self._projects: dict[uuid.UUID, str] = {}
        self._saved: dict[uuid.UUID, SavedPrompt] = {}
        self.events: list[DomainEvent] = []
        self._simulate()

    # -- ids, time, emitting ------------------------------------------------------

    def _id(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def _tick(self) -> datetime:
        if self._rng.random() > 0.05:  # else the same instant as the event before
            self._now += timedelta(milliseconds=self._rng.randint(1, 4000))
        return self._now

    def _emit(self, event: DomainEvent) -> None:
        self.events.append(event.model_copy(update={"event_id": self._id(), "occurred_at": self._tick()}))

    # -- the simulation -----------------------------------------------------------

    def _simulate(self) -> None:
        for user in self._users:
            self._create_project(user)
        steps = 0
        while len(self._chats) < self._target or self._running:
            steps += 1
            live = [c for c in self._chats if not c.deleted]
            idle = [c for c in live if not c.busy and c.answers]
            roll = self._rng.random()
            if self._running and (roll < 0.35 or len(self._chats) >= self._target):
                self._finish(self._running.pop(self._rng.randrange(len(self._running))))
            elif len(self._chats) < self._target and (roll < 0.5 or not idle):
                self._start()
            elif idle and roll < 0.8:
                self._chat_action(self._rng.choice(idle))
            else:
                self._library_action(self._rng.choice(self._users))
            assert steps < 100_000
        self._access_changes()

    def _ask(self, chat: _Chat, asked: _UserMessage, *, project_id: uuid.UUID | None = None) -> None:
        messages = [ChatMessage(role="system", content=chat.system)] if chat.system else []
        messages.append(ChatMessage(role="user", content=asked.text))
        session = self._id()
        prompt = PromptSubmitted(
            user_id=chat.user,
            session_id=session,
            request_id=f"r-{self._id().hex[:8]}",
            conversation_id=chat.id,
            message_id=self._id(),
            prompt_message_id=asked.id,
            parent_id=asked.parent_id,
            model=chat.model,
            messages=tuple(messages),
            params=GenerationParams(temperature=0.7),
            reply_to=f"session.{session}",
            project_id=project_id,
        )
        self._emit(prompt)
        emitted = self.events[-1]
        assert isinstance(emitted, PromptSubmitted)
        chat.busy = True
        self._running.append(_Generation(emitted, chat))

    def _start(self) -> None:
        user = self._rng.choice(self._users)
        mine = [p for p, owner in self._projects.items() if owner == user]
        project_id = self._rng.choice(mine) if mine and self._rng.random() < 0.3 else None
        system = self._rng.choice([None, None, "Be brief", "Answer in French"])
        chat = _Chat(self._id(), user, self._rng.choice(["small", "large"]), system)
        self._chats.append(chat)
        n = len(self._chats)
        question = _UserMessage(self._id(), None, f"Question {n} about topic{n} and more words here")
        chat.first_question = question.text
        chat.user_messages.append(question)
        self._ask(chat, question, project_id=project_id)

    def _finish(self, generation: _Generation) -> None:
        p, chat = generation.prompt, generation.chat
        roll = self._rng.random()
        common = {"user_id": p.user_id, "conversation_id": p.conversation_id, "message_id": p.message_id}
        worker = self._rng.choice(["w1", "w2"])
        if p.purpose == "title":
            if roll < 0.85:
                self._emit(self._finished(p, f"Title of {p.conversation_id.hex[:6]}", worker))
            else:
                self._emit(CompletionFailed(**common, model=p.model, code="timeout", message="too slow"))
            return
        chat.busy = False
        if generation.redo:  # the same request again, on another worker: it may fail this time
            if roll < 0.6:
                self._emit(self._finished(p, f"Again {self._id().hex[:6]}", worker))
            else:
                self._emit(CompletionFailed(**common, model=p.model, worker_id=worker, code="provider_error",
                                            message="upstream said no"))  # fmt: skip
            return
        if roll < 0.75:
            self._emit(self._finished(p, f"Answer {self._id().hex[:6]} to {p.messages[-1].content}", worker))
            chat.answers.append(p.message_id)
            if self._rng.random() < 0.1:
                # the worker died after publishing, before its ack: another one answers again
                chat.busy = True
                self._running.append(_Generation(p, chat, redo=True))
            if not (chat.titled or chat.renamed or chat.deleted):
                chat.titled = True
                self._title_request(chat, p)
        elif roll < 0.87:
            self._emit(CompletionFailed(**common, model=p.model, worker_id=worker, code="provider_error",
                                        message="upstream said no"))  # fmt: skip
            chat.answers.append(p.message_id)
        else:
            usage = Usage(prompt_tokens=9, completion_tokens=2)
            self._emit(CompletionCancelled(**common, model=p.model, worker_id=worker, text="Partial",
                                           usage=usage))  # fmt: skip
            chat.answers.append(p.message_id)

    def _finished(self, p: PromptSubmitted, text: str, worker: str) -> CompletionFinished:
        return CompletionFinished(
            user_id=p.user_id,
            conversation_id=p.conversation_id,
            message_id=p.message_id,
            model=p.model,
            worker_id=worker,
            text=text,
            finish_reason=self._rng.choice(["stop", "stop", "length"]),
            usage=Usage(prompt_tokens=self._rng.randint(5, 400), completion_tokens=self._rng.randint(1, 300)),
            ttft_ms=float(self._rng.randint(20, 900)),
            tokens_per_s=float(self._rng.randint(10, 90)),
        )

    def _title_request(self, chat: _Chat, answer: PromptSubmitted) -> None:
        """What history publishes after a conversation's first finished answer."""
        request = TitleRequest(
            conversation_id=chat.id,
            user_id=chat.user,
            model=chat.model,
            message_id=title_message_id(chat.id),
            prompt=chat.first_question,
            answer="(answer)",
        )
        self._emit(title_prompt(request, reply_to="history.titles"))
        emitted = self.events[-1]
        assert isinstance(emitted, PromptSubmitted)
        self._running.append(_Generation(emitted, chat))

    def _chat_action(self, chat: _Chat) -> None:
        roll = self._rng.random()
        rng = self._rng
        if roll < 0.3:
            parent = chat.answers[-1]
            follow = _UserMessage(self._id(), parent, f"Follow-up {self._id().hex[:4]}")
            chat.user_messages.append(follow)
            self._ask(chat, follow)
        elif roll < 0.4:
            self._ask(chat, rng.choice(chat.user_messages))  # regenerate: the same user message again
        elif roll < 0.48:
            earlier = rng.choice(chat.user_messages)
            edited = _UserMessage(self._id(), earlier.parent_id, f"{earlier.text} (edited)")
            chat.user_messages.append(edited)
            self._ask(chat, edited)
        elif roll < 0.58:
            leaf = rng.choice([*chat.answers, *(m.id for m in chat.user_messages)])
            self._emit(BranchSelected(user_id=chat.user, conversation_id=chat.id, leaf_id=leaf))
        elif roll < 0.7:
            chat.renamed = True
            title = f"Renamed {self._id().hex[:5]}"
            self._emit(ConversationRenamed(user_id=chat.user, conversation_id=chat.id, title=title))
        elif roll < 0.8:
            chat.pinned = not chat.pinned
            self._emit(ConversationPinned(user_id=chat.user, conversation_id=chat.id, pinned=chat.pinned))
        elif roll < 0.92:
            mine = [p for p, owner in self._projects.items() if owner == chat.user]
            target = rng.choice([*mine, None])
            self._emit(ConversationMoved(user_id=chat.user, conversation_id=chat.id, project_id=target))
        else:
            chat.deleted = True
            self._emit(ConversationDeleted(user_id=chat.user, conversation_id=chat.id))


def deliveries(
    events: list[DomainEvent], *, seed: int, duplicate_share: float, window: int | None
) -> tuple[list[DomainEvent], int]:
    """`events` as a broker may deliver them: some two or three times, then reordered;
    `window`: each delivery moves at most about that many places (redeliveries and
    competing consumers), None: a full shuffle. Returns (deliveries, duplicates added)."""
    rng = random.Random(seed)
    placed: list[tuple[float, DomainEvent]] = []
    duplicates = 0
    for index, event in enumerate(events):
        copies = 1 + (rng.choice([1, 1, 2]) if rng.random() < duplicate_share else 0)
        duplicates += copies - 1
        for copy in range(copies):
            # a redelivery comes after the first delivery, a little or much later
            placed.append((index + copy * rng.uniform(0, 3 * (window or 1)), event))
    if window is None:
        rng.shuffle(placed)
        return [event for _, event in placed], duplicates
    jittered = sorted(placed, key=lambda item: item[0] + rng.uniform(0, window))
    return [event for _, event in jittered], duplicates
