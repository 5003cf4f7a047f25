"""Broker subscribers (FastStream): worker heartbeats, control commands, quota
announcements and account access changes, each on a private queue of this
gateway process; and the queue of the prompts every gateway accepts with the
generation outcomes (together, the users' rate windows and generation slots;
finished answers also feed the admin statistics), fed on aio-pika directly.

Each subscriber has a channel of its own: subscribers stopped at once on a
shared channel can race each other's basic.cancel at shutdown ("Channel
closed by RPC timeout")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel

from parley_contracts import (
    PromptSubmitted,
    QuotaExceeded,
    QuotaRestored,
    RequestSnapshot,
    UserAccessChanged,
)
from parley_contracts.topology import (
    CHAT_CONTROL,
    CHAT_EVENTS,
    WORKER_HEARTBEATS,
    Binding,
    QueueSpec,
    private_queue,
)
from parley_gateway import access
from parley_gateway.adapters.bindings import bind_extra
from parley_gateway.adapters.rabbit import RabbitMessage
from parley_gateway.bootstrap import Gateway
from parley_gateway.ports import EventCallback
from parley_gateway.services import broker_events
from parley_platform.rabbit import rabbit_exchange, rabbit_queue

log = logging.getLogger(__name__)


def register_consumers(gateway: Gateway) -> None:
    router = gateway.router
    senders = gateway.settings.senders
    heartbeats = private_queue(
        f"gateway.{gateway.instance_id}.heartbeats", bindings=(Binding(WORKER_HEARTBEATS),)
    )
    control = private_queue(f"gateway.{gateway.instance_id}.control", bindings=(Binding(CHAT_CONTROL),))
    # One queue for both quota events, so that an exceeded and a restored of one user keep their order.
    quota_keys = [model.model_fields["type"].default for model in (QuotaExceeded, QuotaRestored)]
    quota = private_queue(
        f"gateway.{gateway.instance_id}.quota",
        bindings=tuple(Binding(CHAT_EVENTS, routing_key=key) for key in quota_keys),
    )

    @router.subscriber(
        rabbit_queue(heartbeats),
        rabbit_exchange(WORKER_HEARTBEATS),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:worker.heartbeat",
    )
    async def on_heartbeat(message: RabbitMessage) -> None:
        sender = message.raw_message.user_id
        broker_events.record_heartbeat(
            message.body, sender=sender, senders=senders, registry=gateway.registry
        )

    @router.subscriber(
        rabbit_queue(control),
        rabbit_exchange(CHAT_CONTROL),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:chat.control",
    )
    async def on_control(message: RabbitMessage) -> None:
        command = broker_events.decode_control(
            message.body, sender=message.raw_message.user_id, senders=senders
        )
        if isinstance(command, RequestSnapshot):
            gateway.hub.on_snapshot_request(command)

    quota_queue = rabbit_queue(quota, routing_key=quota_keys[0])

    @router.subscriber(
        quota_queue,
        rabbit_exchange(CHAT_EVENTS),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:quota",
    )
    async def on_quota(message: RabbitMessage) -> None:
        sender = message.raw_message.user_id
        broker_events.record_quota(message.body, sender=sender, senders=senders, blocked=gateway.blocked)

    @router.after_startup
    async def _bind_quota_restored(_app: Any) -> None:
        # FastStream binds a subscriber's queue with one routing key; the other binding is added here,
        # before the gateway reports ready.
        await bind_extra(router, quota_queue, CHAT_EVENTS, quota_keys[1:])

    register_access_consumer(gateway)


def generation_events(gateway: Gateway) -> tuple[QueueSpec, EventCallback]:
    """Every prompt any gateway accepted, and every generation outcome, on one queue: a prompt is
    routed here when it is routed to its worker, so its outcome always comes after it, and a
    slot freed by the outcome is never taken again by its prompt arriving late. Fed by the
    session-queue adapter (`feed`) once it is connected."""
    prompt_key = PromptSubmitted.model_fields["type"].default
    senders = gateway.settings.senders
    queue = private_queue(
        f"gateway.{gateway.instance_id}.generations",
        bindings=(Binding(CHAT_EVENTS, prompt_key), Binding(CHAT_EVENTS, "completion.*")),
    )

    def on_generation_event(
        routing_key: str, headers: Mapping[str, Any], body: bytes, sender: str | None
    ) -> None:
        if routing_key == prompt_key:
            broker_events.record_prompt(
                headers, sender=sender, senders=senders, rate=gateway.rate, generations=gateway.generations
            )
        else:
            broker_events.record_outcome(
                body, sender=sender, senders=senders, latency=gateway.latency, generations=gateway.generations
            )

    return queue, on_generation_event


def register_access_consumer(gateway: Gateway) -> None:
    """`user.access_changed` on a private queue; at start, the recent changes from auth."""
    router = gateway.router
    settings = gateway.settings
    verifier_access = gateway.verifier.access
    key = UserAccessChanged.model_fields["type"].default
    queue = private_queue(f"gateway.{gateway.instance_id}.access", bindings=(Binding(CHAT_EVENTS, key),))
    asking: list[asyncio.Task[None]] = []

    @router.subscriber(
        rabbit_queue(queue, routing_key=key),
        rabbit_exchange(CHAT_EVENTS),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:user.access_changed",
    )
    async def on_access_changed(message: RabbitMessage) -> None:
        access.record_access_change(
            message.body,
            sender=message.raw_message.user_id,
            senders=settings.senders,
            access=verifier_access,
            sockets=gateway.hub,
        )

    @router.after_startup
    async def _learn_recent(_app: Any) -> None:
        # Subscribed first, then asked: a change in between arrives either way, and the newest wins.
        broker = router.broker
        timeout_s = settings.access_request_timeout_s
        if timeout_s <= 0:
            return
        user_id, senders = settings.broker_user, settings.senders
        if not await access.learn_recent_changes(
            broker, access=verifier_access, timeout_s=timeout_s, user_id=user_id, senders=senders
        ):
            log.warning("auth did not answer which accounts' access changed lately; asking again")
            asking.append(
                asyncio.create_task(
                    access.keep_asking(
                        broker,
                        access=verifier_access,
                        timeout_s=timeout_s,
                        interval_s=timeout_s,
                        user_id=user_id,
                        senders=senders,
                    )
                )
            )

    @router.on_broker_shutdown
    async def _stop_asking(_app: Any) -> None:
        for task in asking:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
