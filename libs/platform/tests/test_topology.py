import asyncio
import uuid

import aio_pika
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from parley_contracts import topology
from parley_platform import rabbit


def test_inference_requests_dead_letters_after_the_delivery_limit() -> None:
    spec = topology.inference_queue("qwen2.5:7b")
    assert spec.name == "inference.requests.qwen2.5:7b"
    args = spec.declare_arguments()
    assert args["x-queue-type"] == "quorum"
    assert args["x-delivery-limit"] == topology.INFERENCE_DELIVERY_LIMIT
    assert args["x-dead-letter-routing-key"] == topology.INFERENCE_DEAD.name


def test_session_queues_expire_when_unused() -> None:
    spec = topology.session_queue("abc")
    assert spec.name == "session.abc"
    assert spec.declare_arguments()["x-expires"] == topology.SESSION_QUEUE_EXPIRES_MS


def test_faststream_queue_matches_the_spec() -> None:
    queue = rabbit.rabbit_queue(topology.AUDIT_EVENTS)
    assert queue.arguments == topology.AUDIT_EVENTS.declare_arguments()


def test_prompt_headers_mark_a_counted_prompt_without_its_body() -> None:
    message_id = uuid.uuid4()
    headers = topology.prompt_headers("small", user_id="alice", message_id=message_id)
    assert headers[topology.MODEL_HEADER] == "small"
    assert topology.counted_prompt(headers) == ("alice", message_id)
    assert topology.counted_prompt(topology.prompt_headers("small")) is None  # a title request
    for broken in ({topology.USER_HEADER: "alice", topology.MESSAGE_HEADER: "nope"}, {}):
        assert topology.counted_prompt(broken) is None


async def _get(queue: AbstractQueue) -> bytes:
    for _ in range(50):
        message = await queue.get(timeout=5, fail=False)
        if message is not None:
            await message.ack()
            return message.body
        await asyncio.sleep(0.1)
    raise AssertionError(f"nothing arrived on {queue.name}")


def _prompt(body: bytes, model: str) -> aio_pika.Message:
    return aio_pika.Message(body, headers=topology.prompt_headers(model))


async def test_topology_declares_on_a_real_broker_and_routes(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel()
    small, large = topology.inference_queue("small"), topology.inference_queue("large")
    await rabbit.declare(channel, *topology.PUBLISHER_QUEUES, topology.HISTORY_EVENTS, small, large)
    # Declaring twice must be accepted: every service declares what it uses.
    await rabbit.declare(channel, *topology.PUBLISHER_QUEUES, topology.HISTORY_EVENTS, small, large)

    exchange = await rabbit.declare_exchange(channel, topology.CHAT_EVENTS)
    await exchange.publish(_prompt(b"to small", "small"), routing_key="prompt.submitted")
    counted = topology.prompt_headers("large", user_id="alice", message_id=uuid.uuid4())
    await exchange.publish(aio_pika.Message(b"to large", headers=counted), routing_key="prompt.submitted")
    await exchange.publish(aio_pika.Message(b"finished"), routing_key="completion.finished")

    small_queue = await channel.declare_queue(small.name, passive=True)
    large_queue = await channel.declare_queue(large.name, passive=True)
    history = await channel.declare_queue(topology.HISTORY_EVENTS.name, passive=True)
    assert await _get(small_queue) == b"to small"
    assert await _get(large_queue) == b"to large"
    assert {await _get(history) for _ in range(3)} == {b"to small", b"to large", b"finished"}
    assert await small_queue.get(fail=False) is None
    assert await large_queue.get(fail=False) is None


async def test_a_prompt_for_a_model_no_queue_takes_is_dead_lettered(
    connection: AbstractRobustConnection,
) -> None:
    channel = await connection.channel()
    await rabbit.declare(channel, *topology.PUBLISHER_QUEUES, topology.inference_queue("served"))
    exchange = await rabbit.declare_exchange(channel, topology.CHAT_EVENTS)
    await exchange.publish(_prompt(b"nobody", "removed-model"), routing_key="prompt.submitted")
    dead = await channel.declare_queue(topology.INFERENCE_DEAD.name, passive=True)
    assert await _get(dead) == b"nobody"


async def test_poison_request_dead_letters(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel()
    spec = topology.inference_queue("poisoned")
    await rabbit.declare(channel, *topology.PUBLISHER_QUEUES, spec)
    exchange = await rabbit.declare_exchange(channel, topology.CHAT_EVENTS)
    await exchange.publish(_prompt(b"poison", "poisoned"), routing_key="prompt.submitted")
    requests = await channel.declare_queue(spec.name, passive=True)
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


async def test_queue_exists_leaves_no_channel_open(connection: AbstractRobustConnection) -> None:
    served = topology.inference_queue("served")
    async with connection.channel() as channel:
        await rabbit.declare_queue(channel, served)
    assert connection.transport is not None
    open_channels = connection.transport.connection.channels

    answers = [await rabbit.queue_exists(connection, name) for name in ("absent", "absent", served.name)]

    # A robust channel the broker closed reopens itself a moment later: give it that moment.
    await asyncio.sleep(0.5)
    assert answers == [False, False, True]
    assert len(open_channels) == 0
