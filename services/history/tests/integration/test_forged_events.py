"""Events from a broker user that does not publish their type are dead-lettered, never stored
(`PARLEY_BROKER_USERS`): any service may publish to a queue by name through the default
exchange, so history believes an answer only when RabbitMQ says an inference worker sent it."""

from __future__ import annotations

import aio_pika

from parley_contracts import DomainEvent
from parley_contracts.senders import broker_user
from parley_contracts.topology import CHAT_EVENTS, HISTORY_EVENTS
from parley_testkit import publish_as, vhost_user
from tests.events import finished, prompt
from tests.integration.conftest import consuming


async def publish(url: str, event: DomainEvent, *, by_queue_name: bool = False) -> None:
    if by_queue_name:
        await publish_as(url, event.to_json(), routing_key=HISTORY_EVENTS.name)
    else:
        await publish_as(url, event.to_json(), exchange=CHAT_EVENTS.name, routing_key=event.type)


async def test_an_answer_forged_by_the_gateway_is_dead_lettered_not_stored(
    amqp_url: str, pg_url: str, purged: None
) -> None:
    with (
        vhost_user(amqp_url, "parley-history-test-gateway") as gateway_url,
        vhost_user(amqp_url, "parley-history-test-inference") as inference_url,
    ):
        users = {
            "auth": "parley-auth-nobody",
            "gateway": broker_user(gateway_url),
            "history": broker_user(amqp_url),
            "inference": broker_user(inference_url),
        }
        setting = ",".join(f"{service}={user}" for service, user in users.items())
        async with consuming(amqp_url, pg_url, broker_users=setting) as running:
            asked = prompt("alice", "Who wrote this answer?")
            await publish(gateway_url, asked)
            await publish(gateway_url, finished(asked, "The gateway did."), by_queue_name=True)
            await publish(inference_url, finished(asked, "A worker did."))
            await running.wait_events(2)
            view = await running.store.get_conversation("alice", asked.conversation_id)
            assert [m.content for m in view.messages] == ["Who wrote this answer?", "A worker did."]

        connection = await aio_pika.connect(amqp_url)
        async with connection:
            dead = await (await connection.channel()).declare_queue("history.dead", passive=True)
            message = await dead.get(timeout=5)
            assert message is not None
            headers = message.headers or {}
            assert "not by its publisher" in str(headers["x-parley-rejected-reason"])
            assert headers["x-parley-original-user-id"] == users["gateway"]
