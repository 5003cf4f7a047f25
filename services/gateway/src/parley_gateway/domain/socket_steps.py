"""The steps a `SocketSession` asks of the socket's edge, in order: plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import GatewayError
from parley_gateway.domain.frames import Hello, Prompt


@dataclass(frozen=True)
class Send:
    frame: dict[str, Any]


@dataclass(frozen=True)
class Refuse:
    """An `error` frame; the socket stays open."""

    error: GatewayError


@dataclass(frozen=True)
class Close:
    """The `error` frame, then close the socket (nothing, if it is closing already)."""

    error: GatewayError


@dataclass(frozen=True)
class Verify:
    """Verify the `hello`'s token; then `verified`, or `refused`."""

    hello: Hello


@dataclass(frozen=True)
class ExpireAt:
    """(Re)arm the expiry: `token_expired` at `deadline`, in seconds since the epoch."""

    deadline: float


@dataclass(frozen=True)
class Attach:
    """Relay the session's queue to the socket; `resume`: a session opened before, whose
    queue may be gone (then `nothing_to_resume`). Then `attached`, or `attach_failed`."""

    session_id: UUID
    last_seq: int | None
    resume: bool


@dataclass(frozen=True)
class Detach:
    """Let go of the attached session (what was not sent goes back to its queue)."""


@dataclass(frozen=True)
class Submit:
    """Publish a prompt; `accepted` or a refusal."""

    principal: Principal
    session_id: UUID
    prompt: Prompt
    message_id: UUID


@dataclass(frozen=True)
class Cancel:
    """Stop a generation of the session (refused when it is not running)."""

    principal: Principal
    message_id: UUID


Step = Send | Refuse | Close | Verify | ExpireAt | Attach | Detach | Submit | Cancel
