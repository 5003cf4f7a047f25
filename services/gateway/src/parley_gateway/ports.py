"""What the use cases need from the outside world, as small protocols.

Adapters implement them for RabbitMQ, the JWKS and the WebSocket; the tests
give fakes that record state (tests/fakes.py). A use case takes the narrow
protocol it needs (`EventPublisher`, `SessionQueues`); the composition root
holds the wider ones the app also starts, stops and probes (`PublisherConnection`,
`SessionQueuesConnection`, `TokenVerifier`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from parley_contracts import CancelGeneration, PromptSubmitted, RequestSnapshot
from parley_contracts.topology import QueueSpec
from parley_gateway.domain.auth import AccountAccess, Principal
from parley_gateway.domain.stream import StreamFrame


class EventPublisher(Protocol):
    """Domain events and control commands, published with confirms."""

    async def publish_prompt(self, event: PromptSubmitted) -> None: ...

    async def publish_control(self, command: CancelGeneration | RequestSnapshot) -> None: ...


class PublisherConnection(EventPublisher, Protocol):
    async def connected(self) -> bool:
        """Whether the broker answers (readiness)."""
        ...


class Delivery(Protocol):
    """One message from a session queue, to settle exactly once."""

    @property
    def body(self) -> bytes: ...

    @property
    def sender(self) -> str | None:
        """Its `user_id`: the broker user that published it (RabbitMQ refuses any other)."""
        ...

    async def ack(self) -> None: ...

    async def requeue(self) -> None: ...


DeliveryCallback = Callable[[Delivery], None]
EventCallback = Callable[[str, Mapping[str, Any], bytes, str | None], None]
"""An event fed to the gateway: its routing key, headers (strings as `str`), body and
sender (its `user_id`: the broker user that published it, as RabbitMQ verified)."""


class Subscription(Protocol):
    async def cancel(self) -> None:
        """Stop consuming; deliveries not settled yet are the caller's to requeue."""


class SessionQueues(Protocol):
    """The per-session queues: declared once per session, consumed while a socket is attached."""

    async def open(self, session_id: UUID, on_delivery: DeliveryCallback) -> Subscription: ...

    async def depths(self, names: list[str]) -> dict[str, int | None]:
        """Ready messages per queue (None: missing, or the broker is down)."""
        ...

    async def exists(self, session_id: UUID) -> bool:
        """Whether the session's queue is there (it outlives its socket for a while)."""
        ...


class SessionQueuesConnection(SessionQueues, Protocol):
    """The session queues' connection, started and stopped with the app."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def feed(self, spec: QueueSpec, on_event: EventCallback) -> None:
        """Consume `spec` (a private queue and its bindings), each event to `on_event`."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the connection and its channel are up (readiness)."""
        ...


class StreamSink(Protocol):
    """The client socket as a session relay sees it."""

    async def send_stream(self, frames: Sequence[StreamFrame]) -> bool:
        """Number and send the frames in order; False once the socket is gone."""
        ...


class TokenVerifier(Protocol):
    @property
    def access(self) -> AccountAccess:
        """The accounts' latest access changes, which `verify` applies."""
        ...

    async def refresh(self) -> bool:
        """Fetch the signing keys now if allowed; False when that failed."""
        ...

    async def verify(self, token: str) -> Principal:
        """The token's subject; `CredentialRefused` (invalid_token, token_expired, account_disabled,
        token_revoked) or `AuthUnavailable`."""
        ...
