"""The feed of generation events (`RabbitSessionQueues.feed`) on the real
RabbitMQ: it takes the events its private queue is bound to, with their
headers as strings and their sender's broker user, and takes them again once the broker cut its connection
(the queue, exclusive to the old connection, declared and bound anew). On a
vhost of its own: cutting its connections leaves the other tests' gateways alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import aio_pika
import pytest

from parley_contracts.senders import broker_user
from parley_contracts.topology import CHAT_EVENTS, Binding, private_queue
from parley_gateway.adapters.session_queues import RabbitSessionQueues
from parley_platform.rabbit import declare_exchange
from parley_testkit import amqp_url_from_env, cut_connections, isolated_vhost

SPEC = private_queue(
    "gateway.test.generations",
    bindings=(Binding(CHAT_EVENTS, "prompt.submitted"), Binding(CHAT_EVENTS, "completion.*")),
)


@pytest.fixture
def feed_url() -> Iterator[str]:
    with isolated_vhost(amqp_url_from_env(), prefix="parley-gateway-feed") as url:
        yield url


Fed = tuple[str, Mapping[str, Any], bytes, str | None]


async def _publish(
    amqp_url: str, routing_key: str, body: bytes, headers: dict[str, Any], user_id: str | None = None
) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, CHAT_EVENTS)
        await exchange.publish(
            aio_pika.Message(body, headers=headers, user_id=user_id), routing_key=routing_key
        )


async def _next(seen: asyncio.Queue[Fed]) -> Fed:
    async with asyncio.timeout(10):
        return await seen.get()


async def test_the_feed_takes_its_events_and_takes_them_again_after_a_connection_cut(feed_url: str) -> None:
    seen: asyncio.Queue[Fed] = asyncio.Queue()
    queues = RabbitSessionQueues(feed_url, prefetch=8, reconnect_interval_s=0.2)
    await queues.start()
    try:
        await queues.feed(
            SPEC, lambda key, headers, body, sender: seen.put_nowait((key, headers, body, sender))
        )
        me = broker_user(feed_url)
        await _publish(
            feed_url, "prompt.submitted", b"{}", {"parley-user": "u1", "parley-message-id": "m1"}, user_id=me
        )
        key, headers, _, sender = await _next(seen)
        assert (key, sender) == ("prompt.submitted", me)
        assert headers["parley-user"] == "u1"
        assert isinstance(headers["parley-message-id"], str)
        await _publish(feed_url, "user.access_changed", b"{}", {})  # not bound: never fed
        await _publish(feed_url, "completion.finished", b'{"x": 1}', {})
        assert await _next(seen) == ("completion.finished", {}, b'{"x": 1}', None)

        if not await asyncio.to_thread(cut_connections, feed_url, "feed test"):
            pytest.skip("rabbitmqctl is not on PATH: cannot cut the broker's connections")
        # Published until fed: the first may go before the exclusive queue is declared again.
        async with asyncio.timeout(20):
            while seen.empty():
                await _publish(feed_url, "completion.failed", b"again", {})
                await asyncio.sleep(0.2)
        assert (await seen.get())[0] == "completion.failed"
    finally:
        await queues.stop()
