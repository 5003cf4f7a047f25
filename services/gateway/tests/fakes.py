"""Fakes that record state (STYLE: assert on results and state, not calls)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from parley_contracts import CancelGeneration, Event, PromptSubmitted, RequestSnapshot, UserAccessChanged
from parley_contracts.senders import Senders
from parley_contracts.topology import QueueSpec
from parley_gateway.domain.errors import BrokerUnavailable
from parley_gateway.domain.stream import StreamFrame
from parley_gateway.ports import DeliveryCallback, EventCallback, Subscription

SENDERS = Senders.parse(
    "auth=parley-auth,gateway=parley-gateway,history=parley-history,inference=parley-inference"
)
"""Each service with a broker user of its own, as deployed: a sender is checked."""
UNCHECKED = Senders()
"""One broker user for every service (`make dev`): no sender is checked."""
"""The keywords of a message from anyone where no sender is checked (tests of something else)."""
ACCESS_TTL = timedelta(minutes=15)
"""How long an account's access change stays relevant (its `relevant_until`) in these tests."""


def access_changed(
    user_id: str,
    at: datetime | None = None,
    *,
    disabled: bool = False,
    role: str = "user",
    cut: datetime | None = None,
) -> UserAccessChanged:
    """Auth's word that the account's access changed `at` (now by default); `cut` refuses the
    tokens issued before it."""
    at = at or datetime.now(UTC)
    return UserAccessChanged(
        user_id=user_id,
        disabled=disabled,
        role=role,  # type: ignore[arg-type]
        tokens_not_before=cut,
        occurred_at=at,
        relevant_until=at + ACCESS_TTL,
    )


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakePublisher:
    def __init__(self) -> None:
        self.prompts: list[PromptSubmitted] = []
        self.control: list[CancelGeneration | RequestSnapshot] = []
        self.down = False
        self.unconfirmed = False
        self.control_down = False
        """Prompts are written but never confirmed (an overloaded broker)."""

    async def publish_prompt(self, event: PromptSubmitted) -> None:
        if self.down:
            raise BrokerUnavailable("fake broker is down")
        self.prompts.append(event)
        if self.unconfirmed:
            raise BrokerUnavailable("no publisher confirm", maybe_sent=True)

    async def publish_control(self, command: CancelGeneration | RequestSnapshot) -> None:
        if self.down or self.control_down:
            raise BrokerUnavailable("fake broker is down")
        self.control.append(command)

    async def connected(self) -> bool:
        return not self.down


class FakeSessionQueues:
    """The session queues' connection, with no queue: up or down, as the test sets it."""

    def __init__(self) -> None:
        self.connected = True
        self.fed: list[QueueSpec] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def feed(self, spec: QueueSpec, on_event: EventCallback) -> None:
        self.fed.append(spec)

    async def open(self, session_id: UUID, on_delivery: DeliveryCallback) -> Subscription:
        raise BrokerUnavailable("the fake has no session queues")

    async def depths(self, names: list[str]) -> dict[str, int | None]:
        return dict.fromkeys(names)

    async def exists(self, session_id: UUID) -> bool:
        return False


class FakeDelivery:
    def __init__(self, body: bytes, sender: str | None = None) -> None:
        self.body = body
        self.sender = sender
        self.state = "unsettled"

    async def ack(self) -> None:
        assert self.state == "unsettled", f"settled twice ({self.state})"
        self.state = "acked"

    async def requeue(self) -> None:
        assert self.state == "unsettled", f"settled twice ({self.state})"
        self.state = "requeued"


class FakeQueue:
    """A session queue: what was published, and where each delivery ended."""

    def __init__(self, deliver: Callable[[FakeDelivery], None]) -> None:
        self._deliver = deliver
        self.deliveries: list[FakeDelivery] = []

    def publish(self, event: Event | bytes, *, sender: str | None = None) -> FakeDelivery:
        delivery = FakeDelivery(event if isinstance(event, bytes) else event.to_json(), sender)
        self.deliveries.append(delivery)
        self._deliver(delivery)
        return delivery

    def states(self) -> list[str]:
        return [d.state for d in self.deliveries]


class FakeSink:
    """A client socket: the frames it got, numbered like the real one."""

    def __init__(self, last_seq: int = 0) -> None:
        self.frames: list[dict[str, Any]] = []
        self.seq = last_seq
        self.alive = True

    async def send_stream(self, frames: Sequence[StreamFrame]) -> bool:
        if not self.alive:
            return False
        for frame in frames:
            self.seq += 1
            self.frames.append(frame.to_wire(self.seq))
        return True

    def types(self) -> list[str]:
        return [f["type"] for f in self.frames]

    def text(self, message_id: UUID) -> str:
        """The message's text as a client builds it."""
        return text_of(self.frames, str(message_id))


def text_of(frames: Sequence[dict[str, Any]], message_id: str) -> str:
    """A message's text as a client builds it from its frames."""
    text = ""
    for frame in frames:
        if frame.get("message_id") != message_id:
            continue
        if frame["type"] == "delta":
            text += frame["text"]
        elif frame["type"] in ("snapshot", "done"):
            text = frame["text"]
        elif frame["type"] == "restart":
            text = ""
    return text


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Let the event loop run until `predicate` holds (or fail after `timeout`)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)
