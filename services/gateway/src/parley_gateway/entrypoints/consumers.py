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
import functools
import logging
from collections.abc import Mapping
from typing import Any

from parley_contracts import (
    CancelGeneration,
    PromptSubmitted,
    QuotaExceeded,
    QuotaRestored,
    RequestSnapshot,
    UserAccessChanged,
    WorkerHeartbeat,
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
from parley_gateway.bootstrap import Gateway
from parley_gateway.ports import EventCallback
from parley_gateway.services import broker_events
from parley_gateway.services.broker_events import Inboxes
from parley_platform.broker import subscribe

log = logging.getLogger(__name__)


def register_consumers(gateway: Gateway, inboxes: Inboxes) -> None:
    broker = gateway.lifespan.broker
    name = f"gateway.{gateway.instance_id}"

    async def on_heartbeat(beat: WorkerHeartbeat) -> None:
        broker_events.record_heartbeat(beat, registry=gateway.registry)

    async def on_control(command: CancelGeneration | RequestSnapshot) -> None:
        if isinstance(command, RequestSnapshot):
            gateway.hub.on_snapshot_request(command)

    async def on_quota(event: QuotaExceeded | QuotaRestored) -> None:
        broker_events.record_quota(event, blocked=gateway.blocked)

    heartbeats = private_queue(f"{name}.heartbeats", bindings=(Binding(WORKER_HEARTBEATS),))
    subscribe(broker, heartbeats, inboxes.heartbeats, on_heartbeat, title="gateway:worker.heartbeat")
    control = private_queue(f"{name}.control", bindings=(Binding(CHAT_CONTROL),))
    subscribe(broker, control, inboxes.control, on_control, title="gateway:chat.control")
    # One queue for both quota events (`BlockedUsers` orders them by their time, not their arrival).
    quota_keys = [model.model_fields["type"].default for model in (QuotaExceeded, QuotaRestored)]
    quota = private_queue(
        f"{name}.quota", bindings=tuple(Binding(CHAT_EVENTS, routing_key=key) for key in quota_keys)
    )
    # Bound with its second key before the gateway reports ready.
    gateway.lifespan.after_startup(
        subscribe(broker, quota, inboxes.quota, on_quota, title="gateway:quota").bind_rest
    )
    register_access_consumer(gateway, inboxes)


def generation_events(gateway: Gateway, inboxes: Inboxes) -> tuple[QueueSpec, EventCallback]:
    """Every prompt any gateway accepted, and every generation outcome, on one queue: a prompt is
    routed here when it is routed to its worker, so its outcome always comes after it, and a
    slot freed by the outcome is never taken again by its prompt arriving late. Fed by the
    session-queue adapter (`feed`) once it is connected."""
    prompt_key = PromptSubmitted.model_fields["type"].default
    queue = private_queue(
        f"gateway.{gateway.instance_id}.generations",
        bindings=(Binding(CHAT_EVENTS, prompt_key), Binding(CHAT_EVENTS, "completion.*")),
    )

    def on_generation_event(
        routing_key: str, headers: Mapping[str, Any], body: bytes, sender: str | None
    ) -> None:
        if routing_key == prompt_key:
            broker_events.record_prompt(
                headers,
                sender=sender,
                inbox=inboxes.prompts,
                rate=gateway.rate,
                generations=gateway.generations,
            )
        elif (outcome := inboxes.outcomes.read(body, sender=sender)) is not None:
            broker_events.record_outcome(outcome, latency=gateway.latency, generations=gateway.generations)

    return queue, on_generation_event


def register_access_consumer(gateway: Gateway, inboxes: Inboxes) -> None:
    """`user.access_changed` on a private queue; at start, the recent changes from auth."""
    lifespan, settings = gateway.lifespan, gateway.settings
    verifier_access = gateway.verifier.access
    key = UserAccessChanged.model_fields["type"].default
    queue = private_queue(f"gateway.{gateway.instance_id}.access", bindings=(Binding(CHAT_EVENTS, key),))
    asking: list[asyncio.Task[None]] = []

    async def on_access_changed(change: UserAccessChanged) -> None:
        access.record_access_change(change, access=verifier_access, sockets=gateway.hub)

    subscribe(lifespan.broker, queue, inboxes.access, on_access_changed, title="gateway:user.access_changed")

    @lifespan.after_startup
    async def _learn_recent() -> None:
        # Subscribed first, then asked: a change in between arrives either way, and the newest wins.
        timeout_s = settings.access_request_timeout_s
        if timeout_s <= 0:
            return
        learn = functools.partial(
            access.learn_recent_changes,
            lifespan.broker,
            access=verifier_access,
            timeout_s=timeout_s,
            user_id=settings.broker_user,
            inbox=inboxes.access_answers,
        )
        if not await learn():
            log.warning("auth did not answer which accounts' access changed lately; asking again")
            asking.append(asyncio.create_task(access.keep_asking(learn, interval_s=timeout_s)))

    @lifespan.on_shutdown
    async def _stop_asking() -> None:
        for task in asking:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
