"""The broker topology of docs/architecture.md section 2, declared once.

Every service builds its FastStream objects or declares with aio-pika from
these specs (`parley_platform.rabbit`), so names and queue arguments cannot
drift between services: RabbitMQ refuses a redeclaration with different
arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from uuid import UUID

ExchangeKind = Literal["topic", "fanout", "direct", "headers"]
QueueKind = Literal["classic", "quorum", "stream"]


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    kind: ExchangeKind
    durable: bool = True
    arguments: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    bindings: tuple[Binding, ...] = ()
    """Exchanges this one receives from (exchange-to-exchange bindings)."""


@dataclass(frozen=True)
class Binding:
    exchange: ExchangeSpec
    routing_key: str = ""
    arguments: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Binding arguments: the header match of a headers exchange."""


@dataclass(frozen=True)
class QueueSpec:
    name: str
    kind: QueueKind
    arguments: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    bindings: tuple[Binding, ...] = ()
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False

    def declare_arguments(self) -> dict[str, Any]:
        return {"x-queue-type": self.kind, **self.arguments}


CHAT_EVENTS = ExchangeSpec("chat.events", "topic")
CHAT_CONTROL = ExchangeSpec("chat.control", "fanout")
WORKER_HEARTBEATS = ExchangeSpec("inference.heartbeats", "fanout")

INFERENCE_DELIVERY_LIMIT = 3
MODEL_HEADER = "parley-model"
"""The AMQP header of a `prompt.submitted` message naming its model: requests
are routed to a queue per model on it."""

INFERENCE_UNROUTED = ExchangeSpec("inference.unrouted", "fanout")
INFERENCE_ROUTE = ExchangeSpec(
    "inference.route",
    "headers",
    # A prompt for a model that no queue takes is dead-lettered, so its client learns of it.
    arguments=MappingProxyType({"alternate-exchange": INFERENCE_UNROUTED.name}),
    bindings=(Binding(CHAT_EVENTS, "prompt.submitted"),),
)
INFERENCE_DEAD = QueueSpec("inference.dead", "quorum", bindings=(Binding(INFERENCE_UNROUTED),))
INFERENCE_QUEUE_PREFIX = "inference.requests."


def inference_queue(model: str) -> QueueSpec:
    """The requests queue of one model: `prompt.submitted` events whose
    `MODEL_HEADER` names it. Workers serving the model compete on it, each
    with a prefetch of the model's concurrency, so waiting prompts stay here."""
    return QueueSpec(
        f"{INFERENCE_QUEUE_PREFIX}{model}",
        "quorum",
        arguments=MappingProxyType(
            {
                "x-delivery-limit": INFERENCE_DELIVERY_LIMIT,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": INFERENCE_DEAD.name,
            }
        ),
        bindings=(
            Binding(INFERENCE_ROUTE, arguments=MappingProxyType({"x-match": "all", MODEL_HEADER: model})),
        ),
    )


USER_HEADER = "parley-user"
MESSAGE_HEADER = "parley-message-id"
"""The AMQP headers of a `prompt.submitted` message a gateway accepted from a
user: every gateway counts it in that user's limits from these alone, without
decoding the body (the full message list, up to 256 KiB)."""


def prompt_headers(
    model: str, *, user_id: str | None = None, message_id: UUID | None = None
) -> dict[str, str]:
    """The headers a `prompt.submitted` message is published with; `user_id`
    and `message_id` mark a prompt that counts in its user's limits (history's
    title requests do not)."""
    headers = {MODEL_HEADER: model}
    if user_id is not None and message_id is not None:
        headers |= {USER_HEADER: user_id, MESSAGE_HEADER: str(message_id)}
    return headers


def counted_prompt(headers: Mapping[str, Any]) -> tuple[str, UUID] | None:
    """The user and message id `prompt_headers` marked a prompt with, or None
    when it carries no such mark (or a malformed one)."""
    user_id, message_id = headers.get(USER_HEADER), headers.get(MESSAGE_HEADER)
    if not isinstance(user_id, str) or not user_id or not isinstance(message_id, str):
        return None
    try:
        return user_id, UUID(message_id)
    except ValueError:
        return None


HISTORY_EVENTS = QueueSpec(
    "history.events",
    "quorum",
    bindings=(
        Binding(CHAT_EVENTS, "prompt.submitted"),
        Binding(CHAT_EVENTS, "completion.*"),
        Binding(CHAT_EVENTS, "conversation.*"),
        Binding(CHAT_EVENTS, "project.*"),
        Binding(CHAT_EVENTS, "library.prompt.*"),
        # History verifies access tokens itself: it must know of disabled accounts and demotions.
        Binding(CHAT_EVENTS, "user.access_changed"),
    ),
)
AUTH_USAGE = QueueSpec("auth.usage", "quorum", bindings=(Binding(CHAT_EVENTS, "completion.finished"),))
AUDIT_EVENTS = QueueSpec(
    "audit.events",
    "stream",
    arguments=MappingProxyType({"x-max-age": "30D", "x-max-length-bytes": 20 * 1024**3}),
    bindings=(Binding(CHAT_EVENTS, "#"),),
)

SESSION_QUEUE_PREFIX = "session."
SESSION_QUEUE_EXPIRES_MS = 5 * 60 * 1000
"""A session queue outlives its WebSocket this long, so a client can resume."""

EXCHANGES: tuple[ExchangeSpec, ...] = (
    CHAT_EVENTS,
    CHAT_CONTROL,
    WORKER_HEARTBEATS,
    INFERENCE_UNROUTED,
    INFERENCE_ROUTE,
)

PUBLISHER_QUEUES: tuple[QueueSpec, ...] = (INFERENCE_DEAD,)
"""Queues a publisher of prompts declares too, so that nothing published
before the first reader starts is lost. (A model's requests queue is declared
by its workers; prompts go only to models a live worker announces.) Not
`AUDIT_EVENTS`: its binding takes every event type, which the gateway's broker
user may not read; history and the deployment's set-up (broker_users.py)
declare it."""


def session_queue(session_id: UUID | str) -> QueueSpec:
    return QueueSpec(
        f"{SESSION_QUEUE_PREFIX}{session_id}",
        "classic",
        arguments=MappingProxyType({"x-expires": SESSION_QUEUE_EXPIRES_MS}),
        durable=False,
    )


def private_queue(name: str, *, bindings: tuple[Binding, ...]) -> QueueSpec:
    """A per-process queue (control or heartbeat listener), gone with its connection."""
    return QueueSpec(name, "classic", bindings=bindings, durable=False, exclusive=True, auto_delete=True)
