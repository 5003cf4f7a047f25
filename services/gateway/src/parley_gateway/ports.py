"""What the use cases need from the outside world, as small protocols.

Adapters implement them for RabbitMQ, the JWKS and the WebSocket; the tests
give fakes that record state (tests/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

from parley_contracts import CancelGeneration, PromptSubmitted, RequestSnapshot
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.stream import StreamFrame


class EventPublisher(Protocol):
    """Domain events and control commands, published with confirms."""

    async def publish_prompt(self, event: PromptSubmitted) -> None: ...

    async def publish_control(self, command: CancelGeneration | RequestSnapshot) -> None: ...


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


class Subscription(Protocol):
    async def cancel(self) -> None:
        """Stop consuming; deliveries not settled yet are the caller's to requeue."""


class SessionQueues(Protocol):
    """The per-session queues: declared once per session, consumed while a socket is attached."""

    async def open(self, session_id: UUID, on_delivery: Callable[[Delivery], None]) -> Subscription: ...

    async def depths(self, names: list[str]) -> dict[str, int | None]:
        """Ready messages per queue (None: missing, or the broker is down)."""
        ...

    async def exists(self, session_id: UUID) -> bool:
        """Whether the session's queue is there (it outlives its socket for a while)."""
        ...


class StreamSink(Protocol):
    """The client socket as a session relay sees it."""

    async def send_stream(self, frames: Sequence[StreamFrame]) -> bool:
        """Number and send the frames in order; False once the socket is gone."""
        ...


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """The token's subject; `CredentialRefused` (invalid_token, token_expired, account_disabled,
        token_revoked) or `AuthUnavailable`."""
        ...
