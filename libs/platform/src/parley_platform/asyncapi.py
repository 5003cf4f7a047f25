"""The AsyncAPI document of Parley's broker traffic, generated from the contracts.

`python -m parley_platform.asyncapi > docs/asyncapi.yaml` writes it; a test
fails when the committed file is stale. The document is built from a broker
that is never connected: it only carries the topology and the event models.
"""

from __future__ import annotations

import sys

import yaml
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue
from faststream.specification import AsyncAPI

from parley_contracts.access import ACCESS_REQUESTS, RecentAccessChanges
from parley_contracts.envelope import Event
from parley_contracts.events import DOMAIN_EVENTS, PromptSubmitted
from parley_contracts.stream import CONTROL_COMMANDS, SESSION_STREAM_EVENTS, WorkerHeartbeat
from parley_contracts.topology import (
    CHAT_CONTROL,
    CHAT_EVENTS,
    INFERENCE_DEAD,
    INFERENCE_ROUTE,
    WORKER_HEARTBEATS,
    inference_queue,
    session_queue,
)
from parley_platform.rabbit import rabbit_exchange, rabbit_queue

TITLE = "Parley broker traffic"


def _event_type(model: type[Event]) -> str:
    return str(model.model_fields["type"].default)


def _publishers(
    broker: RabbitBroker,
    models: tuple[type[Event], ...],
    *,
    exchange: RabbitExchange | None,
    queue: RabbitQueue | str = "",
    per_type_routing: bool,
    where: str,
) -> None:
    for model in models:
        event_type = _event_type(model)
        broker.publisher(
            queue,
            exchange,
            routing_key=event_type if per_type_routing else "",
            title=f"{where}:{event_type}",
            description=(model.__doc__ or event_type).strip(),
            schema=model,
        )


def build_broker() -> RabbitBroker:
    broker = RabbitBroker(logger=None)
    chat_events = rabbit_exchange(CHAT_EVENTS)

    _publishers(broker, DOMAIN_EVENTS, exchange=chat_events, per_type_routing=True, where="chat.events")
    _publishers(
        broker,
        SESSION_STREAM_EVENTS,
        exchange=None,
        queue=rabbit_queue(session_queue("{session_id}")),
        per_type_routing=False,
        where="session.{session_id}",
    )
    _publishers(
        broker,
        CONTROL_COMMANDS,
        exchange=rabbit_exchange(CHAT_CONTROL),
        per_type_routing=False,
        where="chat.control",
    )
    _publishers(
        broker,
        (WorkerHeartbeat,),
        exchange=rabbit_exchange(WORKER_HEARTBEATS),
        per_type_routing=False,
        where="inference.heartbeats",
    )

    @broker.subscriber(
        rabbit_queue(inference_queue("{model}")),
        rabbit_exchange(INFERENCE_ROUTE),
        title="inference.requests.{model}:prompt.submitted",
        description=(
            "One quorum queue per model, bound to the headers exchange inference.route (itself bound to "
            "chat.events prompt.submitted) on the parley-model header. Workers serving the model compete "
            "for prompts with a prefetch of its concurrency; acked once the outcome is published. A prompt "
            "no model queue takes goes through inference.unrouted to inference.dead."
        ),
    )
    async def _inference_requests(event: PromptSubmitted) -> None: ...

    @broker.subscriber(
        rabbit_queue(INFERENCE_DEAD),
        title="inference.dead:prompt.submitted",
        description="Prompts that failed the delivery limit; ended as completion.failed.",
    )
    async def _inference_dead(event: PromptSubmitted) -> None: ...

    broker.publisher(
        ACCESS_REQUESTS,
        title=f"{ACCESS_REQUESTS}:reply",
        description=(
            "Request-reply: a gateway that starts publishes any body to the durable classic queue "
            f"{ACCESS_REQUESTS} with a reply-to; auth answers with the latest user.access_changed of "
            "every account changed within one access-token lifetime."
        ),
        schema=RecentAccessChanges,
    )

    return broker


def render() -> str:
    spec = AsyncAPI(
        build_broker(),
        title=TITLE,
        version="1.0.0",
        description=(
            "Events, stream frames, control commands and heartbeats of Parley "
            "(docs/architecture.md sections 2-3)."
        ),
        schema_version="3.0.0",
    )
    # FastStream orders channels by registration internals; sorted keys keep
    # the committed document stable from run to run.
    document = spec.to_specification().to_jsonable()
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
