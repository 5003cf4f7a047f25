import asyncio
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from parley_contracts import topology
from parley_testkit.rabbit import amqp_url_from_env, isolated_vhost


@pytest.fixture(scope="module")
def vhost_url() -> Iterator[str]:
    with isolated_vhost(amqp_url_from_env()) as url:
        yield url


@pytest.fixture
async def connection(vhost_url: str) -> AsyncIterator[AbstractRobustConnection]:
    conn = await aio_pika.connect_robust(vhost_url)
    yield conn
    await conn.close()


def test_inference_requests_dead_letters_after_the_delivery_limit() -> None:
    args = topology.INFERENCE_REQUESTS.declare_arguments()
    assert args["x-queue-type"] == "quorum"
    assert args["x-delivery-limit"] == topology.INFERENCE_DELIVERY_LIMIT
    assert args["x-dead-letter-routing-key"] == topology.INFERENCE_DEAD.name


def test_session_queues_expire_when_unused() -> None:
    spec = topology.session_queue("abc")
    assert spec.name == "session.abc"
    assert spec.declare_arguments()["x-expires"] == topology.SESSION_QUEUE_EXPIRES_MS


def test_faststream_queue_matches_the_spec() -> None:
    queue = topology.rabbit_queue(topology.AUDIT_EVENTS)
    assert queue.arguments == topology.AUDIT_EVENTS.declare_arguments()


async def _get(queue: AbstractQueue) -> bytes:
    for _ in range(50):
        message = await queue.get(timeout=5, fail=False)
        if message is not None:
            await message.ack()
            return message.body
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing arrived on {queue.name}")


async def test_topology_declares_on_a_real_broker_and_routes(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel()
    await topology.declare(channel, *topology.PUBLISHER_QUEUES, topology.HISTORY_EVENTS)
    # Declaring twice must be accepted: every service declares what it uses.
    await topology.declare(channel, *topology.PUBLISHER_QUEUES, topology.HISTORY_EVENTS)

    exchange = await topology.declare_exchange(channel, topology.CHAT_EVENTS)
    await exchange.publish(aio_pika.Message(b"prompt"), routing_key="prompt.submitted")
    await exchange.publish(aio_pika.Message(b"finished"), routing_key="completion.finished")

    requests = await channel.declare_queue(topology.INFERENCE_REQUESTS.name, passive=True)
    history = await channel.declare_queue(topology.HISTORY_EVENTS.name, passive=True)
    assert await _get(requests) == b"prompt"
    assert {await _get(history), await _get(history)} == {b"prompt", b"finished"}
    assert await requests.get(fail=False) is None


async def test_poison_request_dead_letters(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel()
    await topology.declare(channel, *topology.PUBLISHER_QUEUES)
    exchange = await topology.declare_exchange(channel, topology.CHAT_EVENTS)
    await exchange.publish(aio_pika.Message(b"poison"), routing_key="prompt.submitted")
    requests = await channel.declare_queue(topology.INFERENCE_REQUESTS.name, passive=True)
    for _ in range(topology.INFERENCE_DELIVERY_LIMIT + 1):
        message = None
        for _ in range(50):
            message = await requests.get(timeout=5, fail=False)
            if message is not None:
                break
            await asyncio.sleep(0.05)
        assert message is not None
        assert message.body == b"poison"
        await message.nack(requeue=True)
    dead = await channel.declare_queue(topology.INFERENCE_DEAD.name, passive=True)
    assert await _get(dead) == b"poison"
    assert await requests.get(fail=False) is None
