"""Reading an event off the broker, one way for every consumer: decode the body into its
model, check that its sender publishes that type, and say in one log line why a message is
dropped (a forged one at ERROR, one this consumer does not understand at WARNING)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from parley_contracts.codec import EventDecoder, UnsupportedEvent
from parley_contracts.envelope import Event
from parley_contracts.senders import ForgedEvent, Senders

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class Inbox(Generic[E]):
    """The events `models` on `where` (a queue, or what the caller reads), from their owners only.

    `on_drop` is told each dropped message's reason (a counter, say)."""

    def __init__(
        self,
        *models: type[E],
        senders: Senders,
        where: str,
        logger: logging.Logger = log,
        on_drop: Callable[[UnsupportedEvent], None] | None = None,
    ) -> None:
        self._decoder = EventDecoder(models)
        self._senders = senders
        self.where = where
        self._log = logger
        self._on_drop = on_drop

    def decode(self, body: bytes | str, *, sender: str | None) -> E:
        """The event in `body`, or `UnsupportedEvent` (`ForgedEvent` when `sender`, the broker
        user that published it, does not publish its type): for callers that keep the reason."""
        return cast(E, self._senders.decode(self._decoder, body, sender))

    def read(self, body: bytes | str, *, sender: str | None, message_id: str | None = None) -> E | None:
        """The event in `body`; None, logged, when it must be dropped."""
        try:
            return self.decode(body, sender=sender)
        except UnsupportedEvent as exc:
            self.dropped(exc, message_id=message_id)
            return None

    def check(self, event_type: str, *, sender: str | None, message_id: str | None = None) -> bool:
        """Whether `sender` publishes `event_type` (for a message read by its headers or
        routing key, not its body); False is logged."""
        try:
            self._senders.check(event_type, sender)
        except ForgedEvent as exc:
            self.dropped(exc, message_id=message_id)
            return False
        return True

    def dropped(self, exc: UnsupportedEvent, *, message_id: str | None = None) -> None:
        """The one line that says why a message on `where` is dropped."""
        message = f" (message {message_id})" if message_id else ""
        if isinstance(exc, ForgedEvent):
            self._log.error("dropping a forged message on %s%s: %s", self.where, message, exc.reason)
        else:
            self._log.warning(
                "dropping message on %s%s: %s (type=%r version=%r)",
                self.where,
                message,
                exc.reason,
                exc.type,
                exc.version,
            )
        if self._on_drop is not None:
            self._on_drop(exc)
