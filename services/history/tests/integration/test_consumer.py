"""The consumer on the real RabbitMQ and PostgreSQL: storing, redelivery,
dead-lettering, and a database outage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
import asyncpg  # type: ignore[import-untyped]
import pytest

from parley_contracts import DomainEvent, PromptSubmitted
from parley_contracts.topology import HISTORY_EVENTS, inference_queue
from parley_history.adapters.database import make_engine
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.domain.audit import ChainReport
from parley_history.domain.conversations import Applied
from parley_platform.rabbit import declare, declare_queue
from tests.conftest import AUDIT_KEY
from tests.events import finished, prompt
from tests.integration.conftest import Broker, Running, consuming


async def test_events_become_a_conversation_and_a_title_is_requested(
    running: Running, broker: Broker, amqp_url: str
) -> None:
    p = prompt("alice", "What is the capital of France?")
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    model_queue = await declare_queue(channel, inference_queue(p.model))
    await model_queue.purge()
    await broker.publish(p, finished(p, "Paris."))
    await running.wait_events(2)
    view = await running.store.get_conversation("alice", p.conversation_id)
    assert [m.content for m in view.messages] == ["What is the capital of France?", "Paris."]

    # the title request went out on chat.events; it comes back to history too
    await running.wait_events(3)
    records = [r async for r in running.store.audit_records()]
    title = PromptSubmitted.model_validate_json(records[2].body)
    assert (title.purpose, title.conversation_id) == ("title", p.conversation_id)
    # routed to the model's requests queue like any prompt (the test's own prompts were not)
    routed = await model_queue.get(timeout=5)
    assert PromptSubmitted.model_validate_json(routed.body).message_id == title.message_id
    await connection.close()
    await broker.publish(finished(title, "Capital of France"))
    await running.wait_events(4)
    assert (
        await running.store.get_conversation("alice", p.conversation_id)
    ).summary.title == "Capital of France"


async def test_a_duplicate_delivery_is_stored_once(running: Running, broker: Broker) -> None:
    p = prompt("alice", "once")
    await broker.publish(p, p, p)
    await broker.publish(prompt("alice", "marker"))
    await running.wait_events(2)
    await asyncio.sleep(0.2)
    assert await running.store.event_count() == 2
    assert running.metrics.events.labels("prompt.submitted", "duplicate")._value.get() == 2


async def test_bad_events_are_dead_lettered_and_the_queue_goes_on(
    running: Running, broker: Broker, amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    good = prompt("alice", "after the bad ones")
    await broker.publish_raw(b"{not json", "prompt.submitted")
    await broker.publish_raw(good.to_json().replace(b'"version":1', b'"version":7'), "prompt.submitted")
    await broker.publish_raw(b'{"type":"prompt.submitted","version":1,"user_id":"x"}', "prompt.submitted")
    await broker.publish(good)
    await running.wait_events(1)

    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    dead = await channel.declare_queue("history.dead", passive=True)
    reasons = []
    for _ in range(3):
        message = await dead.get(timeout=5)
        assert message is not None
        reasons.append(str((message.headers or {})["x-parley-rejected-reason"]))
        await message.ack()
    await connection.close()
    assert "not JSON" in reasons[0]
    assert "unsupported version 7" in reasons[1]
    assert "invalid 'prompt.submitted'" in reasons[2]
    assert any("rejecting message" in r.getMessage() for r in caplog.records)
    assert running.consumer.connected


async def test_a_database_outage_holds_events_and_loses_none(
    running: Running, broker: Broker, pg_url: str
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg_url.rsplit("/", 1)[0] + "/postgres")
    stop = asyncio.Event()

    async def outage() -> None:
        # refuse new connections and kill the open ones, for about 1.5 s
        await admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS false")
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.5
        while loop.time() < end:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                dbname,
            )
            await asyncio.sleep(0.05)
        await admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
        stop.set()

    prompts = [prompt("alice", f"q{i}") for i in range(20)]
    await broker.publish(*prompts[:5])
    await running.wait_events(5)
    task = asyncio.create_task(outage())
    await asyncio.sleep(0.1)
    for p in prompts[5:]:
        await broker.publish(p, p)  # each twice: stored once
    await task
    await running.wait_events(20, timeout=30)
    await asyncio.sleep(0.3)
    await admin.close()
    assert await running.store.event_count() == 20
    assert running.metrics.store_retries._value.get() > 0
    assert await running.store.verify() == ChainReport(20, None)
    page = await running.store.list_conversations("alice", query=None, limit=100, cursor=None)
    assert len(page.items) == 20


class _BatchCountingStore(SqlHistoryStore):
    """The real store, noting the size of each transaction of several events that committed;
    `fail_batches` of them raise first, as a bug would."""

    def __init__(self, url: str, *, fail_batches: int = 0) -> None:
        super().__init__(make_engine(url), audit_key=AUDIT_KEY)
        self.batches: list[int] = []
        self._fail_batches = fail_batches

    async def apply_batch(self, items: Sequence[tuple[DomainEvent, str]]) -> list[Applied]:
        if self._fail_batches:
            self._fail_batches -= 1
            raise RuntimeError("a bug in the projection")
        applied = await super().apply_batch(items)
        self.batches.append(len(items))
        return applied


async def _backlog(broker: Broker, amqp_url: str) -> list[PromptSubmitted]:
    """Events waiting in `history.events` before the consumer starts: 30 prompts, one of
    them three times, an answer, and an unreadable message among them. Once stored, the
    answer's title request comes back: 32 events in all."""
    connection = await aio_pika.connect(amqp_url)
    await declare(await connection.channel(), HISTORY_EVENTS)
    await connection.close()
    prompts = [prompt("alice", f"backlog {i}") for i in range(30)]
    await broker.publish(*prompts[:10], prompts[3], prompts[3], finished(prompts[0], "First."))
    await broker.publish_raw(b"{not json", "prompt.submitted")
    await broker.publish(*prompts[10:])
    return prompts


async def _whole_backlog_stored(running: Running) -> _BatchCountingStore:
    """Once the backlog's 32 events are in, once each, with the audit chain whole: the store."""
    await running.wait_events(32)
    await asyncio.sleep(0.3)
    store = running.store
    assert isinstance(store, _BatchCountingStore)
    assert await store.event_count() == 32
    assert await store.verify() == ChainReport(32, None)
    return store


async def test_a_backlog_is_stored_in_few_transactions_once_each_in_order(
    broker: Broker, amqp_url: str, pg_url: str, purged: None
) -> None:
    prompts = await _backlog(broker, amqp_url)
    async with consuming(amqp_url, pg_url, _BatchCountingStore(pg_url)) as running:
        store = await _whole_backlog_stored(running)
        records = [r async for r in store.audit_records()]
        stored = [
            PromptSubmitted.model_validate_json(r.body).request_id
            for r in records
            if r.type == "prompt.submitted"
        ]
        assert [r for r in stored if not r.startswith("title:")] == [p.request_id for p in prompts]
        assert sum(store.batches) >= 31, store.batches  # all but the title request came together
        assert len(store.batches) < 10, store.batches
        view = await store.get_conversation("alice", prompts[0].conversation_id)
        assert [m.content for m in view.messages] == ["backlog 0", "First."]
        assert running.metrics.events.labels("prompt.submitted", "duplicate")._value.get() == 2
        assert running.metrics.events.labels("unknown", "rejected")._value.get() == 1


async def test_when_a_transaction_of_several_fails_they_are_stored_one_by_one(
    broker: Broker, amqp_url: str, pg_url: str, purged: None
) -> None:
    await _backlog(broker, amqp_url)
    async with consuming(amqp_url, pg_url, _BatchCountingStore(pg_url, fail_batches=1)) as running:
        await running.wait_events(32)
        await asyncio.sleep(0.3)
        assert await running.store.event_count() == 32
        assert await running.store.verify() == ChainReport(32, None)
        assert running.metrics.events.labels("prompt.submitted", "duplicate")._value.get() == 2


async def test_a_backlog_waits_out_a_database_that_refuses_connections(
    broker: Broker, amqp_url: str, pg_url: str, purged: None
) -> None:
    """The backlog's transaction fails while the database is away: held, retried, then
    stored once, together."""
    dbname = pg_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg_url.rsplit("/", 1)[0] + "/postgres")
    await _backlog(broker, amqp_url)
    await admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS false")
    try:
        async with consuming(amqp_url, pg_url, _BatchCountingStore(pg_url)) as running:
            await running.wait_for(_retried(running), timeout=15)
            await admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
            store = await _whole_backlog_stored(running)
            assert sum(store.batches) >= 31, store.batches  # held, then stored together
    finally:
        await admin.execute(f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
        await admin.close()


def _retried(running: Running) -> Callable[[], Awaitable[bool]]:
    async def retried() -> bool:
        return bool(running.metrics.store_retries._value.get() > 0)

    return retried
