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

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from parley_contracts import CancelGeneration, RequestSnapshot
from parley_contracts.catalog import CatalogUpdated
from parley_contracts.senders import Senders
from parley_contracts.topology import INFERENCE_DEAD, INFERENCE_DELIVERY_LIMIT, QueueSpec
from parley_inference.domain.errors import ErrorCode
from parley_inference.entrypoints.requests import (
    InFlight,
    RequestConsumer,
    RequestLane,
    requests_inbox,
)
from parley_inference.outcomes import fail_dead_request
from parley_inference.services import (
    Ports,
    answer_snapshot,
    cancel_generation,
)
from parley_platform.broker import RabbitBroker, Subscription, raw_body, subscribe
from parley_platform.inbox import Inbox
from parley_platform.rabbit import rabbit_queue

log = logging.getLogger(__name__)

_DEAD_RETRY_DELAY_S = 1.0


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
    control: Subscription
    catalog: Subscription


CatalogCallback = Callable[[CatalogUpdated], Awaitable[None]]


def catalog_inbox(where: str, senders: Senders) -> Inbox[CatalogUpdated]:
    """The runtime catalogue, from auth only."""
    return Inbox(CatalogUpdated, senders=senders, where=where, logger=log)


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

    async def on_control(command: CancelGeneration | RequestSnapshot) -> None:
        """`generation.cancel` and `snapshot.request`, seen by every worker."""
        if isinstance(command, CancelGeneration):
            cancel_generation(command, ports=ports)
        else:
            answer_snapshot(command, ports=ports)

    control_inbox: Inbox[CancelGeneration | RequestSnapshot] = Inbox(
        CancelGeneration, RequestSnapshot, senders=senders, where=control_queue.name, logger=log
    )
    control = subscribe(broker, control_queue, control_inbox, on_control, title="chat.control:consume")
    catalog = subscribe(
        broker,
        catalog_queue,
        catalog_inbox(catalog_queue.name, senders),
        on_catalog,
        title="catalog.updated:consume",
    )
    dead = broker.subscriber(
        rabbit_queue(INFERENCE_DEAD),
        channel=Channel(prefetch_count=2),
        ack_policy=AckPolicy.MANUAL,
        no_reply=True,
        decoder=raw_body,
        title="inference.dead:consume",
    )
    dead_inbox = requests_inbox(INFERENCE_DEAD.name, senders)

    @dead
    async def on_dead(message: RabbitMessage) -> None:
        """A request that failed `INFERENCE_DELIVERY_LIMIT` times: end it as failed."""
        # a dead-lettered request keeps the properties its sender published it with
        request = dead_inbox.read(
            message.body, sender=message.raw_message.user_id, message_id=message.message_id
        )
        if request is None:
            await message.ack()
            return
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

    return Subscribers(requests=requests, dead=dead, control=control, catalog=catalog)
