"""A message is used only when its sender (its `user_id`) publishes its type: any other is
dropped as an undecodable one is, and with no broker users set nothing is checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast
from uuid import uuid4

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from parley_contracts import (
    CONTROL_COMMANDS,
    CancelGeneration,
    ChatMessage,
    EventDecoder,
    PromptSubmitted,
    new_id,
)
from parley_contracts.catalog import SYSTEM_USER, CatalogUpdated
from parley_contracts.senders import ForgedEvent, Senders
from parley_inference.entrypoints.consumers import catalog_inbox
from parley_inference.entrypoints.requests import (
    InFlight,
    fail_waiting_requests,
    handle_request,
    requests_inbox,
)
from parley_inference.services import Ports
from tests.fakes import make_ports

SENDERS = Senders.parse("auth=a-auth,gateway=a-gateway,history=a-history,inference=a-inference")
REQUESTS = EventDecoder([PromptSubmitted])


def _prompt() -> PromptSubmitted:
    session_id = new_id()
    return PromptSubmitted(
        user_id="user-1",
        session_id=session_id,
        request_id="r1",
        conversation_id=new_id(),
        message_id=new_id(),
        prompt_message_id=new_id(),
        model="test",
        messages=(ChatMessage(role="user", content="Say hello"),),
        reply_to=f"session.{session_id}",
    )


@dataclass
class FakeIncoming:
    """The parts of an aio-pika message the consumers read, and how it was settled."""

    body: bytes
    user_id: str | None
    headers: Mapping[str, object] = field(default_factory=dict)
    message_id: str | None = "m1"
    settled: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.settled.append("requeue" if requeue else "nack")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append("requeue" if requeue else "reject")


@dataclass
class FakeQueue:
    messages: list[FakeIncoming]
    name: str = "inference.requests.gone"

    async def get(self, *, no_ack: bool, fail: bool) -> FakeIncoming | None:
        return self.messages.pop(0) if self.messages else None


async def _handle(message: FakeIncoming, ports: Ports) -> None:
    """Consume `message` from a requests queue as the worker does, with `SENDERS` set."""
    await handle_request(
        cast(AbstractIncomingMessage, message),
        inbox=requests_inbox("q", SENDERS),
        ports=ports,
        in_flight=InFlight(),
    )


def test_a_prompt_passes_from_the_gateway_or_history_only() -> None:
    body = _prompt().to_json()
    for owner in ("a-gateway", "a-history"):
        assert SENDERS.decode(REQUESTS, body, owner).type == "prompt.submitted"
    for impostor in ("a-auth", "a-inference", "guest", None):
        with pytest.raises(ForgedEvent):
            SENDERS.decode(REQUESTS, body, impostor)


def test_a_catalogue_passes_from_auth_only() -> None:
    body = CatalogUpdated(user_id=SYSTEM_USER, revision=1).to_json()
    inbox = catalog_inbox("q", SENDERS)
    assert isinstance(inbox.decode(body, sender="a-auth"), CatalogUpdated)
    with pytest.raises(ForgedEvent, match="a-gateway"):
        inbox.decode(body, sender="a-gateway")


def test_a_cancel_passes_from_the_gateway_only() -> None:
    body = CancelGeneration(user_id="user-1", message_id=uuid4()).to_json()
    decoder = EventDecoder(CONTROL_COMMANDS)
    assert SENDERS.decode(decoder, body, "a-gateway").type == "generation.cancel"
    with pytest.raises(ForgedEvent):
        SENDERS.decode(decoder, body, "a-history")


def test_with_no_broker_users_every_sender_passes() -> None:
    body = CatalogUpdated(user_id=SYSTEM_USER, revision=1).to_json()
    assert catalog_inbox("q", Senders()).decode(body, sender=None).type == "catalog.updated"
    assert catalog_inbox("q", Senders.parse("")).decode(body, sender="anyone").type == "catalog.updated"


async def test_a_forged_prompt_is_rejected_without_a_generation() -> None:
    ports, model, sink, events = make_ports()
    forged = FakeIncoming(_prompt().to_json(), user_id="a-auth")

    await _handle(forged, ports)

    assert forged.settled == ["reject"]
    assert model.calls == []
    assert sink.sent == []
    assert events.published == []


async def test_the_gateway_s_prompt_is_generated_and_acked() -> None:
    ports, model, _, events = make_ports()
    message = FakeIncoming(_prompt().to_json(), user_id="a-gateway")

    await _handle(message, ports)

    assert message.settled == ["ack"]
    assert len(model.calls) == 1
    assert [e.type for e in events.published] == ["completion.finished"]


async def test_a_retired_queue_fails_the_real_prompts_and_rejects_the_forged() -> None:
    ports, _, _, events = make_ports()
    forged = FakeIncoming(_prompt().to_json(), user_id="a-inference")
    real = FakeIncoming(_prompt().to_json(), user_id="a-history")

    failed = await fail_waiting_requests(
        cast(AbstractQueue, FakeQueue([forged, real])), ports=ports, senders=SENDERS
    )

    assert failed == 1
    assert (forged.settled, real.settled) == (["reject"], ["ack"])
    assert [e.type for e in events.published] == ["completion.failed"]
