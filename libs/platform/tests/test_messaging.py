"""The messaging runtime on the real RabbitMQ: typed subscribers, confirmed publishing, and
request-reply, as every service uses them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import CollectorRegistry

from parley_contracts import QuotaExceeded, QuotaRestored
from parley_contracts.senders import Senders
from parley_contracts.topology import CHAT_EVENTS, Binding, QueueSpec, private_queue
from parley_platform.broker import AckPolicy, BrokerLifespan, Hold, RabbitBroker, make_broker, subscribe
from parley_platform.inbox import Inbox
from parley_platform.publisher import EventPublisher, PublishFailed
from parley_platform.rpc import NoAnswer, ask, reply
from parley_testkit.rabbit import publish_as

SENDERS = Senders.parse("auth=guest,gateway=u-gateway,history=u-history,inference=u-inference")
"""The tests' own user (guest) plays auth, the publisher of quota events."""


@pytest.fixture
async def broker(vhost_url: str) -> AsyncIterator[RabbitBroker]:
    yield make_broker(vhost_url, app_name="parley-test", metrics_registry=CollectorRegistry())


def _exceeded(user_id: str = "u1") -> QuotaExceeded:
    return QuotaExceeded(user_id=user_id, quota="tokens_per_day", used=11, limit=10)


def _restored(user_id: str = "u1") -> QuotaRestored:
    return QuotaRestored(user_id=user_id, quota="tokens_per_day", used=0, limit=10, reason="period_rolled")


def _quota_queue(name: str) -> QueueSpec:
    return private_queue(
        name, bindings=(Binding(CHAT_EVENTS, "quota.exceeded"), Binding(CHAT_EVENTS, "quota.restored"))
    )


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the handlers run on the broker's own tasks
            await asyncio.sleep(0.02)


async def test_a_typed_subscriber_gets_events_on_every_binding_and_drops_the_rest(
    broker: RabbitBroker, vhost_url: str
) -> None:
    seen: list[QuotaExceeded | QuotaRestored] = []
    dropped: list[str] = []
    inbox: Inbox[QuotaExceeded | QuotaRestored] = Inbox(
        QuotaExceeded,
        QuotaRestored,
        senders=SENDERS,
        where="quota",
        on_drop=lambda exc: dropped.append(exc.reason),
    )

    async def handle(event: QuotaExceeded | QuotaRestored) -> None:
        seen.append(event)

    queue = _quota_queue("test.quota.typed")
    subscription = subscribe(broker, queue, inbox, handle, title="test:quota")
    lifespan = BrokerLifespan(broker)
    lifespan.after_startup(subscription.bind_rest)
    async with lifespan.run():
        publisher = EventPublisher(broker, user_id="guest", timeout_s=5.0)
        assert await publisher.connected()
        exceeded, restored = _exceeded(), _restored()
        await publish_as(vhost_url, b"not json", routing_key="test.quota.typed")
        await publisher.publish(exceeded, CHAT_EVENTS)
        await publisher.publish(restored, CHAT_EVENTS)  # by the second binding
        await _until(lambda: len(seen) == 2)
    # Both bindings deliver; the order of handling is not promised (see `subscribe`).
    assert sorted(seen, key=lambda event: event.type) == [exceeded, restored]
    (reason,) = dropped
    assert reason.startswith("body is not JSON")


class _Away(Exception):
    pass


async def test_a_held_message_is_tried_again_until_its_store_answers(broker: RabbitBroker) -> None:
    attempts: list[QuotaExceeded] = []
    retries: list[int] = []

    async def handle(event: QuotaExceeded) -> None:
        attempts.append(event)
        if len(attempts) < 3:
            raise _Away("the store is away")

    inbox: Inbox[QuotaExceeded] = Inbox(QuotaExceeded, senders=SENDERS, where="held")
    queue = private_queue("test.quota.held", bindings=(Binding(CHAT_EVENTS, "quota.exceeded"),))
    hold = Hold((_Away,), initial_s=0.01, max_s=0.02, on_retry=lambda: retries.append(1))
    subscribe(broker, queue, inbox, handle, title="test:held", ack_policy=AckPolicy.NACK_ON_ERROR, hold=hold)
    async with BrokerLifespan(broker).run():
        event = _exceeded("u-held")
        await EventPublisher(broker, user_id="guest", timeout_s=5.0).publish(event, CHAT_EVENTS)
        await _until(lambda: len(attempts) == 3)
    assert attempts == [event] * 3
    assert len(retries) == 2


async def test_a_publish_the_broker_refuses_fails_with_its_reason(broker: RabbitBroker) -> None:
    async with BrokerLifespan(broker).run():
        # RabbitMQ closes the channel of a publish that names another user than the connection's.
        impostor = EventPublisher(broker, user_id="someone-else", timeout_s=2.0)
        with pytest.raises(PublishFailed) as failed:
            await impostor.publish(_exceeded(), CHAT_EVENTS)
    assert "user_id property set to 'someone-else'" in failed.value.reason


async def test_a_request_gets_the_answer_and_who_sent_it(broker: RabbitBroker) -> None:
    answered = _restored("u-asked")

    @broker.subscriber("test.requests", no_reply=False)
    async def on_request(_body: bytes) -> object:
        return reply(answered, user_id="guest")

    async with BrokerLifespan(broker).run():
        answer = await ask(broker, "test.requests", timeout_s=5.0, user_id="guest")
        with pytest.raises(NoAnswer, match=r"nobody serves test\.nobody"):
            await ask(broker, "test.nobody", timeout_s=5.0, user_id="guest")
    assert answer.sender == "guest"
    assert QuotaRestored.model_validate_json(answer.body) == answered


async def test_a_request_nobody_answers_ends_at_its_timeout(broker: RabbitBroker, vhost_url: str) -> None:
    async with BrokerLifespan(broker).run():
        channel = await (await broker.connect()).channel()
        await channel.declare_queue("test.silent", auto_delete=True)
        with pytest.raises(NoAnswer, match=r"no answer on test\.silent within 0\.2 s"):
            await ask(broker, "test.silent", timeout_s=0.2, user_id="guest")
        await channel.close()
