"""Broker subscribers (FastStream): worker heartbeats and control commands,
each on a private queue of this gateway process."""

from __future__ import annotations

from faststream.middlewares import AckPolicy

from parley_contracts import RequestSnapshot
from parley_contracts.topology import (
    CHAT_CONTROL,
    WORKER_HEARTBEATS,
    Binding,
    private_queue,
    rabbit_exchange,
    rabbit_queue,
)
from parley_gateway import services
from parley_gateway.adapters.rabbit import RabbitMessage
from parley_gateway.bootstrap import Gateway


def register_consumers(gateway: Gateway) -> None:
    router = gateway.router
    heartbeats = private_queue(
        f"gateway.{gateway.instance_id}.heartbeats", bindings=(Binding(WORKER_HEARTBEATS),)
    )
    control = private_queue(f"gateway.{gateway.instance_id}.control", bindings=(Binding(CHAT_CONTROL),))

    @router.subscriber(
        rabbit_queue(heartbeats),
        rabbit_exchange(WORKER_HEARTBEATS),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:worker.heartbeat",
    )
    async def on_heartbeat(message: RabbitMessage) -> None:
        services.record_heartbeat(message.body, registry=gateway.registry)

    @router.subscriber(
        rabbit_queue(control),
        rabbit_exchange(CHAT_CONTROL),
        ack_policy=AckPolicy.ACK_FIRST,
        no_reply=True,
        title="gateway:chat.control",
    )
    async def on_control(message: RabbitMessage) -> None:
        command = services.decode_control(message.body)
        if isinstance(command, RequestSnapshot):
            gateway.hub.on_snapshot_request(command)
