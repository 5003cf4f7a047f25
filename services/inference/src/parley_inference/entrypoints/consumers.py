"""The worker's subscribers: each decodes one message and calls one use case.

- `inference.requests.<model>` for each model served: `prompt.submitted` -> `generate`,
  on aio-pika directly (`requests.RequestConsumer`); the others here, through FastStream:
- `inference.dead` (competing): requests dead-lettered after the delivery
  limit, or for a model no queue takes -> `fail_dead_request`.
- a private queue bound to `chat.control`: `generation.cancel` and
  `snapshot.request`.
- a private queue bound to `chat.events` `catalog.updated`: the runtime
  model catalogue -> the worker applies it (new lanes, stopped lanes; a
  retired model's queue is unbound and its waiting prompts fail with
  `model_unavailable`).

Any service may put messages into these queues by name, so each is checked against its
sender (its `user_id`, which RabbitMQ vouches for) before it is used: one whose sender does
not publish its type (`PARLEY_BROKER_USERS`) is dropped like a body that does not decode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from parley_contracts import (
    CONTROL_COMMANDS,
    CancelGeneration,
    EventDecoder,
    PromptSubmitted,
    RequestSnapshot,
    UnsupportedEvent,
)
from parley_contracts.catalog import CatalogUpdated
from parley_contracts.senders import Senders
from parley_contracts.topology import (
    CHAT_CONTROL,
    CHAT_EVENTS,
    INFERENCE_DEAD,
    INFERENCE_DELIVERY_LIMIT,
    QueueSpec,
)
from parley_inference.domain.errors import ErrorCode
from parley_inference.entrypoints.requests import (
    InFlight,
    RequestConsumer,
    RequestLane,
    rejected,
)
from parley_inference.outcomes import fail_dead_request
from parley_inference.services import (
    Ports,
    answer_snapshot,
    cancel_generation,
)
from parley_platform.rabbit import rabbit_exchange, rabbit_queue

log = logging.getLogger(__name__)

_DEAD_RETRY_DELAY_S = 1.0

_requests = EventDecoder([PromptSubmitted])
_control = EventDecoder(CONTROL_COMMANDS)
CATALOG_DECODER = EventDecoder([CatalogUpdated])
CATALOG_UPDATED = "catalog.updated"


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    """Leave the body alone: the handlers decode it with `EventDecoder`, so a
    body that is not JSON is rejected by them, not failed inside FastStream."""
    return message.body


def dead_letter_code(headers: Mapping[str, object]) -> ErrorCode:
    """Why a request reached `inference.dead`: dead-lettered by its model's
    queue (it carries `x-death`), or routed there because no queue takes its
    model (it was removed from every worker)."""
    return ErrorCode.GENERATION_FAILED if headers.get("x-death") else ErrorCode.MODEL_UNAVAILABLE


@dataclass
class Subscribers:
    requests: dict[str, RequestConsumer]
    """By model name."""
    dead: RabbitSubscriber
    control: RabbitSubscriber
    catalog: RabbitSubscriber


CatalogCallback = Callable[[CatalogUpdated], Awaitable[None]]


def register(
    broker: RabbitBroker,
    *,
    ports: Ports,
    lanes: list[RequestLane],
    control_queue: QueueSpec,
    catalog_queue: QueueSpec,
    on_catalog: CatalogCallback,
    in_flight: InFlight,
    senders: Senders,
) -> Subscribers:
    """Attach the worker's subscribers to `broker` (before it starts)."""

    requests = {
        lane.model: RequestConsumer(lane, ports=ports, in_flight=in_flight, senders=senders) for lane in lanes
    }
    dead = broker.subscriber(
        rabbit_queue(INFERENCE_DEAD),
        channel=Channel(prefetch_count=2),
        ack_policy=AckPolicy.MANUAL,
        no_reply=True,
        decoder=_raw_body,
        title="inference.dead:consume",
    )
    control = broker.subscriber(
        rabbit_queue(control_queue),
        rabbit_exchange(CHAT_CONTROL),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        decoder=_raw_body,
        title="chat.control:consume",
    )
    catalog = broker.subscriber(
        rabbit_queue(catalog_queue, routing_key=CATALOG_UPDATED),
        rabbit_exchange(CHAT_EVENTS),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        decoder=_raw_body,
        title="catalog.updated:consume",
    )

    @catalog
    async def on_catalog_update(message: RabbitMessage) -> None:
        """`catalog.updated`: the models this worker serves from now on."""
        try:
            event = senders.decode(CATALOG_DECODER, message.body, message.raw_message.user_id)
        except UnsupportedEvent as exc:
            rejected(message.message_id, catalog_queue.name, exc)
            return
        assert isinstance(event, CatalogUpdated)
        await on_catalog(event)

    @dead
    async def on_dead(message: RabbitMessage) -> None:
        """A request that failed `INFERENCE_DELIVERY_LIMIT` times: end it as failed."""
        try:
            # a dead-lettered request keeps the properties its sender published it with
            request = senders.decode(_requests, message.body, message.raw_message.user_id)
        except UnsupportedEvent as exc:
            rejected(message.message_id, INFERENCE_DEAD.name, exc)
            await message.ack()
            return
        assert isinstance(request, PromptSubmitted)
        try:
            await fail_dead_request(
                request,
                code=dead_letter_code(message.headers),
                attempt=INFERENCE_DELIVERY_LIMIT + 1,
                ports=ports,
            )
        except Exception:
            log.exception("could not fail dead-lettered message_id=%s; requeued", request.message_id)
            # not at once: the dead queue has no delivery limit, a broken path would spin
            await asyncio.sleep(_DEAD_RETRY_DELAY_S)
            await message.nack(requeue=True)
            return
        await message.ack()

    @control
    async def on_control(message: RabbitMessage) -> None:
        """`generation.cancel` and `snapshot.request`, seen by every worker."""
        try:
            command = senders.decode(_control, message.body, message.raw_message.user_id)
        except UnsupportedEvent as exc:
            rejected(message.message_id, control_queue.name, exc)
            return
        if isinstance(command, CancelGeneration):
            cancel_generation(command, ports=ports)
        elif isinstance(command, RequestSnapshot):
            answer_snapshot(command, ports=ports)

    return Subscribers(requests=requests, dead=dead, control=control, catalog=catalog)
