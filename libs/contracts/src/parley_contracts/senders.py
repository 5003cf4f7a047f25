"""Which service publishes each kind of message, and the check that a message came from it.

Every service may publish to any queue by name through the default exchange (token events
reach their session that way), so the broker's permissions alone do not stop one service from
putting another's events in a queue. RabbitMQ refuses a message whose `user_id` property is
not the user that published it: every publisher sets its own (`broker_user`), and a consumer
that knows each service's broker user (`PARLEY_BROKER_USERS`) drops an event whose sender
does not own its type. Where every service shares one credential (`make dev`) there is no
one to tell apart and nothing is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

from parley_contracts.catalog import CatalogUpdated
from parley_contracts.codec import EventDecoder, UnsupportedEvent
from parley_contracts.envelope import Event
from parley_contracts.events import ACCOUNT_EVENTS, COMPLETION_EVENTS, CONVERSATION_CHANGES, PromptSubmitted
from parley_contracts.library import LIBRARY_EVENTS
from parley_contracts.stream import CONTROL_COMMANDS, SESSION_STREAM_EVENTS, WorkerHeartbeat

Service = Literal["auth", "gateway", "history", "inference"]
SERVICES: tuple[Service, ...] = get_args(Service)

SETTING = "PARLEY_BROKER_USERS"


def _types(*models: type[Event]) -> frozenset[str]:
    return frozenset(model.model_fields["type"].default for model in models)


OWNED: Mapping[Service, frozenset[str]] = MappingProxyType(
    {
        "auth": _types(*ACCOUNT_EVENTS, CatalogUpdated),
        "gateway": _types(PromptSubmitted, *CONTROL_COMMANDS),
        # Title requests are prompts of history's own.
        "history": _types(PromptSubmitted, *CONVERSATION_CHANGES, *LIBRARY_EVENTS),
        "inference": _types(*COMPLETION_EVENTS, *SESSION_STREAM_EVENTS, WorkerHeartbeat),
    }
)
"""The message types each service publishes: every other sender of one is an impostor."""


class ForgedEvent(UnsupportedEvent):
    """An event whose sender is not a service that publishes its type."""


def broker_user(amqp_url: str) -> str:
    """The RabbitMQ user of `amqp_url`: what a publisher on it sets as `user_id`."""
    return unquote(urlsplit(amqp_url).username or "guest")


@dataclass(frozen=True)
class Senders:
    """Each service's broker user, or None where all share one (nothing to tell apart)."""

    users: Mapping[Service, str] | None = None
    _types_of: Mapping[str | None, frozenset[str]] = field(init=False, repr=False, compare=False)
    """What each broker user may send: one lookup per message on the token path."""

    def __post_init__(self) -> None:
        users = self.users or {}
        object.__setattr__(self, "_types_of", {user: OWNED[service] for service, user in users.items()})

    @classmethod
    def parse(cls, value: str) -> Senders:
        """`auth=parley-auth,gateway=parley-gateway,...` naming all four services; empty: None."""
        if not value.strip():
            return cls()
        users: dict[str, str] = {}
        for item in value.split(","):
            service, sep, user = (part.strip() for part in item.partition("="))
            if not sep or not user or service not in SERVICES or service in users:
                raise ValueError(f"{SETTING}: {item.strip()!r} is not service=user for a new service")
            users[service] = user
        missing = [service for service in SERVICES if service not in users]
        if missing:
            raise ValueError(f"{SETTING} must name the broker user of every service; missing: {missing}")
        if len(set(users.values())) < len(users):
            raise ValueError(f"{SETTING}: each service needs a broker user of its own")
        return cls(MappingProxyType({s: users[s] for s in SERVICES}))

    def decode(self, decoder: EventDecoder, body: bytes | str, user_id: str | None) -> Event:
        """The event in `body`, sent by broker user `user_id`: `UnsupportedEvent` when `decoder`
        does not know it, `ForgedEvent` when that user does not publish its type."""
        event = decoder.decode(body)
        self.check(event.type, user_id)
        return event

    def check(self, event_type: str, user_id: str | None) -> None:
        """Raise `ForgedEvent` unless `user_id` is the broker user of a service owning `event_type`."""
        if self.users is None:
            return
        if event_type not in self._types_of.get(user_id, frozenset()):
            raise ForgedEvent(
                f"{event_type!r} sent by broker user {user_id!r}, not by its publisher", type_=event_type
            )


UNCHECKED = Senders()
"""One credential shared by every service: there is no sender to tell apart."""
