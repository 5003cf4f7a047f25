"""The publisher's wiring, in memory (FastStream's `TestRabbitBroker`): every message it
publishes names this gateway's broker user, by which consumers tell its events."""

from __future__ import annotations

from uuid import uuid4

from faststream.rabbit import RabbitQueue, TestRabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from prometheus_client import CollectorRegistry

from parley_contracts import CancelGeneration, RequestSnapshot
from parley_contracts.topology import CHAT_CONTROL
from parley_gateway.adapters.rabbit import RabbitPublisher
from parley_platform.broker import make_broker
from parley_platform.rabbit import rabbit_exchange


async def test_control_commands_carry_the_gateways_broker_user() -> None:
    broker = make_broker(
        "amqp://parley-gateway:secret@127.0.0.1:5672/",
        app_name="parley-gateway",
        metrics_registry=CollectorRegistry(),
    )
    senders: list[tuple[str | None, str | None]] = []

    @broker.subscriber(RabbitQueue("test.control"), rabbit_exchange(CHAT_CONTROL))
    async def on_control(message: RabbitMessage) -> None:
        senders.append((message.raw_message.type, message.raw_message.user_id))

    publisher = RabbitPublisher(broker, timeout_s=5.0, user_id="parley-gateway")
    async with TestRabbitBroker(broker):
        await publisher.publish_control(CancelGeneration(message_id=uuid4(), user_id="alice"))
        await publisher.publish_control(RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="q"))
    assert senders == [("generation.cancel", "parley-gateway"), ("snapshot.request", "parley-gateway")]
