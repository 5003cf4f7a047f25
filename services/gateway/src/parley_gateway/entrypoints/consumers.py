"""Broker subscribers (FastStream): worker heartbeats, control commands, quota
announcements, the prompts every gateway accepts with the generation outcomes
(together, the users' rate windows and generation slots; finished answers
also feed the admin statistics), and account access changes, each on a
private queue of this gateway process.

Each subscriber has a channel of its own: subscribers stopped at once on a
shared channel can race each other's basic.cancel at shutdown ("Channel
closed by RPC timeout")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    private_queue,
    rabbit_exchange,
    rabbit_queue,
)
from parley_gateway import access, services
from parley_gateway.adapters.bindings import bind_extra
from parley_gateway.adapters.rabbit import RabbitMessage
from parley_gateway.bootstrap import Gateway

log = logging.getLogger(__name__)


def register_consumers(gateway: Gateway) -> None:
    router = gateway.router
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
        services.record_heartbeat(message.body, registry=gateway.registry)

    @router.subscriber(
        rabbit_queue(control),
        rabbit_exchange(CHAT_CONTROL),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:chat.control",
    )
    async def on_control(message: RabbitMessage) -> None:
        command = services.decode_control(message.body)
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
        services.record_quota(message.body, blocked=gateway.blocked)

    @router.after_startup
    async def _bind_quota_restored(_app: Any) -> None:
        # FastStream binds a subscriber's queue with one routing key; the other binding is added here,
        # before the gateway reports ready.
        await bind_extra(router, quota_queue, CHAT_EVENTS, quota_keys[1:])

    _register_generation_events(gateway)
    register_access_consumer(gateway)


async def _body_unread(message: RabbitMessage) -> None:
    """A decoder that leaves the body alone: FastStream's FastAPI integration would otherwise
    parse every JSON body, a prompt's full message list included, before the handler runs."""
    return


def _register_generation_events(gateway: Gateway) -> None:
    """Every prompt any gateway accepted, and every generation outcome, on one queue: a prompt is
    routed here when it is routed to its worker, so its outcome always comes after it, and a
    slot freed by the outcome is never taken again by its prompt arriving late."""
    router = gateway.router
    prompt_key = PromptSubmitted.model_fields["type"].default
    queue = rabbit_queue(
        private_queue(
            f"gateway.{gateway.instance_id}.generations",
            bindings=(Binding(CHAT_EVENTS, prompt_key), Binding(CHAT_EVENTS, "completion.*")),
        ),
        routing_key=prompt_key,
    )

    @router.subscriber(
        queue,
        rabbit_exchange(CHAT_EVENTS),
        channel=Channel(),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        decoder=_body_unread,
        title="gateway:prompt.submitted+completion.*",
    )
    async def on_generation_event(message: RabbitMessage) -> None:
        if message.raw_message.routing_key == prompt_key:
            services.record_prompt(message.headers, rate=gateway.rate, generations=gateway.generations)
        else:
            services.record_outcome(message.body, latency=gateway.latency, generations=gateway.generations)

    @router.after_startup
    async def _bind_outcomes(_app: Any) -> None:
        await bind_extra(router, queue, CHAT_EVENTS, ["completion.*"])


def register_access_consumer(gateway: Gateway) -> None:
    """`user.access_changed` on a private queue; at start, the recent changes from auth."""
    router = gateway.router
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
        access.record_access_change(message.body, access=verifier_access, sockets=gateway.hub)

    @router.after_startup
    async def _learn_recent(_app: Any) -> None:
        # Subscribed first, then asked: a change in between arrives either way, and the newest wins.
        settings = gateway.settings
        broker = router.broker
        timeout_s = settings.access_request_timeout_s
        if timeout_s <= 0:
            return
        if not await access.learn_recent_changes(broker, access=verifier_access, timeout_s=timeout_s):
            log.warning("auth did not answer which accounts' access changed lately; asking again")
            asking.append(
                asyncio.create_task(
                    access.keep_asking(
                        broker, access=verifier_access, timeout_s=timeout_s, interval_s=timeout_s
                    )
                )
            )

    @router.on_broker_shutdown
    async def _stop_asking(_app: Any) -> None:
        for task in asking:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
