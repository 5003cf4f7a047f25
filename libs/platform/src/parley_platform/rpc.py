"""Request-reply on a named queue (RabbitMQ's direct reply-to), one way for every service: a
starting process asks another service for what it missed (the catalogue, recent access
changes), and that service answers stamped with its broker user, so the asker can tell a real
answer from one put on its reply queue by anyone else."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import RabbitBroker, RabbitResponse

from parley_contracts.envelope import Event
from parley_platform.rabbit import queue_exists

_REQUEST = b"{}"


class NoAnswer(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    body: bytes
    sender: str | None
    """The broker user that published the answer."""


async def ask(broker: RabbitBroker, queue: str, *, timeout_s: float, user_id: str) -> Answer:
    """The answer to an (empty) request on `queue`; `NoAnswer` when nobody serves it or no answer
    came within `timeout_s`. `user_id` is the asker's broker user."""
    # A request to a queue nobody declared is dropped silently: check first.
    if timeout_s <= 0 or not await queue_exists(await broker.connect(), queue):
        raise NoAnswer(f"nobody serves {queue}")
    try:
        response = await broker.request(_REQUEST, queue=queue, timeout=timeout_s, user_id=user_id)
    except TimeoutError as exc:
        raise NoAnswer(f"no answer on {queue} within {timeout_s:.1f} s") from exc
    return Answer(response.body, response.raw_message.user_id)


def reply(body: bytes | Event, *, user_id: str) -> RabbitResponse:
    """A subscriber's answer to a request: JSON, stamped with the answering service's broker user."""
    if isinstance(body, Event):
        return RabbitResponse(
            body.to_json(),
            content_type="application/json",
            message_type=body.type,
            message_id=str(body.event_id),
            user_id=user_id,
        )
    return RabbitResponse(body, content_type="application/json", user_id=user_id)
