"""Usage and quotas from real `completion.finished` events on the real RabbitMQ."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
import pytest

from parley_contracts import CompletionFinished, Usage
from parley_contracts.topology import CHAT_EVENTS
from tests.completions import generated_again
from tests.integration.broker import chat_events_queue, next_event
from tests.integration.conftest import Api, User


class Bus:
    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.channel = queue.channel
        self.queue = queue
        self.received: list[dict[str, Any]] = []

    async def publish(self, event: CompletionFinished) -> None:
        exchange = await self.channel.get_exchange(CHAT_EVENTS.name)
        await exchange.publish(
            aio_pika.Message(
                event.to_json(), content_type="application/json", message_id=str(event.event_id)
            ),
            routing_key=event.type,
        )

    async def next_quota(self, user_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next quota event of `user_id`'s. Others' are skipped: the database is shared by
        the module's tests, and auth announces the blocks it holds again when it starts."""
        return await next_event(
            self.queue,
            lambda message: dict(orjson.loads(message.body)),
            lambda event: event["user_id"] == user_id,
            timeout=timeout,
        )

    async def none_for(self, user_id: str) -> bool:
        """Whether no quota event of `user_id`'s is waiting."""
        while (message := await self.queue.get(fail=False)) is not None:
            await message.ack()
            if orjson.loads(message.body)["user_id"] == user_id:
                return False
        return True


@pytest.fixture
async def bus(api: Api, amqp_url: str) -> AsyncIterator[Bus]:
    async with chat_events_queue(amqp_url, "quota.*") as queue:
        yield Bus(queue)


def finished(user_id: str, prompt: int, completion: int, model: str = "m1") -> CompletionFinished:
    return CompletionFinished(
        user_id=user_id,
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        model=model,
        text="hi",
        finish_reason="stop",
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
    )


async def _ledger(admin: User, user_id: str, *, requests: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        response = await admin.http.get("/api/auth/usage", headers=admin.headers, params={"user_id": user_id})
        rows: list[dict[str, Any]] = response.json()["usage"]
        if sum(r["requests"] for r in rows) >= requests or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_duplicate_deliveries_count_once(api: Api, bus: Bus, admin: User, alice: User) -> None:
    event = finished(alice.id, 100, 50)
    for _ in range(3):
        await bus.publish(event)
    await bus.publish(finished(alice.id, 10, 5))
    rows = await _ledger(admin, alice.id, requests=2)
    await asyncio.sleep(0.3)  # give a wrongly counted duplicate the time to show
    rows = await _ledger(admin, alice.id, requests=2)
    assert len(rows) == 1
    row = rows[0]
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (2, 110, 55)
    assert row["cost"] == pytest.approx((110 * 1.0 + 55 * 2.0) / 1_000_000)
    mine = (await alice.http.get("/api/auth/me/usage", headers=alice.headers)).json()["usage"]
    assert mine == rows


async def test_an_answer_generated_twice_is_billed_once(api: Api, bus: Bus, admin: User, alice: User) -> None:
    """The outcome's confirm was lost after RabbitMQ took it: the request came back, the answer
    was generated again and finished under a new event id. Billed once, as the first answer
    (the one its user saw and history keeps), whichever of the two arrives first, and however often."""
    first = finished(alice.id, 100, 50)
    again = generated_again(first, 70)
    late = finished(alice.id, 20, 10)
    late_again = generated_again(late, 4)
    for event in (first, again, first, again, late_again, late, late_again):
        await bus.publish(event)
    await bus.publish(finished(alice.id, 1, 1))
    rows = await _ledger(admin, alice.id, requests=3)
    await asyncio.sleep(0.3)  # give a wrongly billed answer the time to show
    rows = await _ledger(admin, alice.id, requests=3)
    assert [(r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [
        (3, 100 + 20 + 1, 50 + 10 + 1)
    ]
    assert rows[0]["cost"] == pytest.approx((121 * 1.0 + 61 * 2.0) / 1_000_000)


async def test_the_quota_follows_the_bill_of_an_answer_generated_again(
    api: Api, bus: Bus, admin: User, bob: User
) -> None:
    """The budget is 1000 tokens a day. An answer generated again that would cross it is not
    billed; arriving before the first answer, it is billed until that one takes its place."""
    first = finished(bob.id, 300, 100)
    await bus.publish(first)
    await bus.publish(generated_again(first, 700))  # 1000, were it billed
    await bus.publish(finished(bob.id, 1, 1))
    rows = await _ledger(admin, bob.id, requests=2)
    await asyncio.sleep(0.3)  # give a wrongly billed answer the time to show
    rows = await _ledger(admin, bob.id, requests=2)
    assert [(r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(2, 301, 101)]
    assert await bus.none_for(bob.id)

    second = finished(bob.id, 200, 300)
    await bus.publish(generated_again(second, 500))  # 402 + 700 >= 1000
    exceeded = await bus.next_quota(bob.id)
    assert (exceeded["type"], exceeded["used"]) == ("quota.exceeded", 1102)
    await bus.publish(second)  # 402 + 500 < 1000: the block lifts
    restored = await bus.next_quota(bob.id)
    assert (restored["type"], restored["used"]) == ("quota.restored", 902)
    rows = await _ledger(admin, bob.id, requests=3)
    assert [(r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(3, 501, 401)]


async def test_quota_exceeded_then_restored_by_a_raised_budget(
    api: Api, bus: Bus, admin: User, bob: User
) -> None:
    await bus.publish(finished(bob.id, 400, 200))
    await _ledger(admin, bob.id, requests=1)
    await bus.publish(finished(bob.id, 300, 200))  # 1100 >= 1000
    exceeded = await bus.next_quota(bob.id)
    assert exceeded["type"] == "quota.exceeded"
    assert exceeded["user_id"] == bob.id
    assert (exceeded["limit"], exceeded["used"], exceeded["quota"]) == (1000, 1100, "tokens_per_day")
    await bus.publish(finished(bob.id, 1, 1))  # still over: no second announcement
    await _ledger(admin, bob.id, requests=3)
    response = await admin.http.patch(
        f"/api/auth/users/{bob.id}", headers=admin.headers, json={"budget_tokens": 5000}
    )
    assert response.status_code == 200
    assert response.json()["budget_tokens"] == 5000
    restored = await bus.next_quota(bob.id)
    assert restored["type"] == "quota.restored"
    assert restored["reason"] == "budget_raised"
    assert restored["user_id"] == bob.id
    assert restored["limit"] == 5000


async def test_unknown_event_versions_are_dropped_not_crashing(
    api: Api, bus: Bus, admin: User, alice: User
) -> None:
    exchange = await bus.channel.get_exchange(CHAT_EVENTS.name)
    body = orjson.loads(finished(alice.id, 1, 1).to_json())
    for payload in (b"not json", orjson.dumps({**body, "version": 99}), orjson.dumps({"type": "x"})):
        await exchange.publish(aio_pika.Message(payload), routing_key="completion.finished")
    await bus.publish(finished(alice.id, 7, 3))
    rows = await _ledger(admin, alice.id, requests=1)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [(7, 3)]
