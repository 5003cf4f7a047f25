"""Duplicated and reordered deliveries leave history's projection unchanged.

A seeded log of a few hundred events (every type history consumes, see
`tests.event_log`) goes once, in the order it happened, into database A; then,
with about a quarter of the events delivered two or three times, in other orders
into fresh databases: shuffled locally (as redeliveries and competing consumers do),
fully shuffled (on SQLite too), and backwards, each through the consumer's use case
(`services.handle_event`, as `EventConsumer` calls it); and once through the real
RabbitMQ queue to two competing `EventConsumer`s. Every projected table must equal
A's row for row, and each audit log must hold the same events, each once, its hash
chain intact.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from parley_contracts import DOMAIN_EVENTS, DomainEvent
from parley_history import services
from parley_history.adapters.database import migrate
from parley_history.adapters.metrics import HistoryMetrics
from parley_history.adapters.repository import SqlHistoryStore
from parley_history.domain.audit import ChainReport
from parley_history.entrypoints.consumers import EventConsumer
from tests.conftest import Databases, sql_store
from tests.event_log import EventLog, deliveries
from tests.integration.conftest import Broker, history_settings

SEED = 20260302
CONVERSATIONS = 40
TABLES = {
    "conversations": "id",
    "messages": "id",
    "projects": "id",
    "saved_prompts": "id",
    "field_versions": "entity_id, field",
    "account_access": "user_id",
}
ORDERS: dict[str, int | None] = {"local swaps": 6, "full shuffle": None, "backwards": -1}


@pytest.fixture(scope="module")
def event_log() -> EventLog:
    return EventLog(SEED, conversations=CONVERSATIONS)


@pytest.fixture
async def fresh_store(databases: Databases) -> AsyncIterator[SqlHistoryStore]:
    store = sql_store(await databases.fresh())
    yield store
    await store.close()


async def projection(store: SqlHistoryStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected table, row for row, in primary-key order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with store.engine.connect() as connection:
        for table, key in TABLES.items():
            result = await connection.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
            rows[table] = [tuple(row) for row in result]
    return rows


async def audited(store: SqlHistoryStore) -> list[tuple[str, str, str]]:
    """The audit log's events (id, type, body), in event-id order: the set, not the chain order."""
    async with store.engine.connect() as connection:
        result = await connection.execute(text("SELECT event_id, type, body FROM audit_log"))
        return sorted((str(uuid.UUID(str(row[0]))), row[1], row[2]) for row in result)


async def apply_all(store: SqlHistoryStore, events: list[DomainEvent]) -> float:
    started = time.perf_counter()
    for event in events:
        await services.handle_event(event.to_json(), store=store, publisher=None, title_reply_to=None)
    return time.perf_counter() - started


def _ordered(events: list[DomainEvent], window: int | None, seed: int) -> tuple[list[DomainEvent], int]:
    if window == -1:
        shuffled, duplicates = deliveries(events, seed=seed, duplicate_share=0.25, window=1)
        return shuffled[::-1], duplicates
    return deliveries(events, seed=seed, duplicate_share=0.25, window=window)


def disorder(shuffled: list[DomainEvent]) -> tuple[int, int]:
    """(deliveries that came after a later event's, outcomes that came before their prompt)."""
    latest = shuffled[0].occurred_at
    late = 0
    prompted: set[object] = set()
    early_outcomes = 0
    for event in shuffled:
        late += event.occurred_at < latest
        latest = max(latest, event.occurred_at)
        if event.type == "prompt.submitted":
            prompted.add(getattr(event, "message_id", None))
        elif event.type.startswith("completion.") and getattr(event, "message_id", None) not in prompted:
            early_outcomes += 1
    return late, early_outcomes


def _describe_difference(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]]) -> str:
    missing = [row for row in expected if row not in actual]
    extra = [row for row in actual if row not in expected]
    return f"{len(missing)} row(s) differ; in order:\n{missing[:3]}\nreordered:\n{extra[:3]}"


async def assert_same(
    expected: dict[str, list[tuple[Any, ...]]], store: SqlHistoryStore, events: list[DomainEvent]
) -> None:
    actual = await projection(store)
    for table in TABLES:
        assert actual[table] == expected[table], f"{table}: " + _describe_difference(
            expected[table], actual[table]
        )
    assert [row[0] for row in await audited(store)] == sorted(str(e.event_id) for e in events)
    assert await store.verify() == ChainReport(len(events), None)


async def test_the_log_covers_every_event_type_history_consumes(event_log: EventLog) -> None:
    types = {event.type for event in event_log.events}
    every = {cls.model_fields["type"].default for cls in DOMAIN_EVENTS}
    assert types == {t for t in every if services.consumes(t)}
    titles = [e for e in event_log.events if getattr(e, "purpose", None) == "title"]
    assert len(titles) >= 10
    times = [e.occurred_at for e in event_log.events]
    assert times == sorted(times)
    assert len(set(times)) < len(times)  # some ties, decided by event_id
    outcomes: dict[object, list[str]] = {}
    for event in event_log.events:
        if event.type.startswith("completion."):
            outcomes.setdefault(getattr(event, "message_id", None), []).append(event.type)
    # a request answered twice (its worker died after publishing), the retry failing
    assert ["completion.finished", "completion.failed"] in outcomes.values()


async def _database(backend: str, databases: Databases, path: Path) -> str:
    if backend == "postgresql":
        return await databases.fresh()
    url = f"sqlite:///{path}"
    await asyncio.to_thread(migrate, url)
    return url


@pytest.mark.parametrize(
    ("order", "backend"),
    [*((order, "postgresql") for order in ORDERS), ("full shuffle", "sqlite")],
)
async def test_duplicated_and_reordered_deliveries_give_the_same_projection(
    order: str,
    backend: str,
    event_log: EventLog,
    databases: Databases,
    stores: list[SqlHistoryStore],
    tmp_path: Path,
) -> None:
    events = event_log.events
    in_order = sql_store(await _database(backend, databases, tmp_path / "a.db"))
    reordered = sql_store(await _database(backend, databases, tmp_path / "b.db"))
    stores += [in_order, reordered]
    first = await apply_all(in_order, events)
    expected = await projection(in_order)
    assert len(expected["conversations"]) == CONVERSATIONS
    assert await in_order.verify() == ChainReport(len(events), None)

    shuffled, duplicates = _ordered(events, ORDERS[order], seed=SEED + len(order))
    late, early_outcomes = disorder(shuffled)
    assert late > len(events) // 10
    assert early_outcomes > 0
    took = await apply_all(reordered, shuffled)
    print(  # noqa: T201
        f"\nhistory, {order} ({backend}): {len(events)} events ({len({e.type for e in events})} types), "
        f"{duplicates} duplicate deliveries, {len(shuffled)} deliveries, {late} behind a later event, "
        f"{early_outcomes} outcomes before their prompt; in order {first:.1f} s, reordered {took:.1f} s"
    )
    await assert_same(expected, reordered, events)


async def test_through_rabbitmq_to_two_competing_consumers(
    event_log: EventLog,
    databases: Databases,
    broker: Broker,
    amqp_url: str,
    purged: None,
    stores: list[SqlHistoryStore],
) -> None:
    events = event_log.events
    in_order = sql_store(await databases.fresh())
    stores.append(in_order)
    await apply_all(in_order, events)
    expected = await projection(in_order)

    url = await databases.fresh()
    settings = history_settings(amqp_url, url, title_requests=False, prefetch=16)
    store = sql_store(url)
    stores.append(store)
    metrics = [HistoryMetrics() for _ in range(2)]
    consumers = [EventConsumer(settings, store=store, publisher=None, metrics=m) for m in metrics]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        deadline = time.monotonic() + 20
        while not all(c.connected for c in consumers):
            assert time.monotonic() < deadline, "consumers did not connect"
            assert not any(t.done() for t in tasks)
            await asyncio.sleep(0.02)
        shuffled, duplicates = deliveries(events, seed=SEED + 1, duplicate_share=0.25, window=6)
        started = time.perf_counter()
        for event in shuffled:
            await broker.publish_raw(event.to_json(), event.type)
        deadline = time.monotonic() + 120
        while sum(c.handled for c in consumers) < len(shuffled):
            assert time.monotonic() < deadline, f"{sum(c.handled for c in consumers)}/{len(shuffled)} handled"
            await asyncio.sleep(0.1)
        took = time.perf_counter() - started
        types = {event.type for event in events}
        taken_as_duplicates = int(
            sum(m.events.labels(t, "duplicate")._value.get() for m in metrics for t in types)
        )
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
    print(  # noqa: T201
        f"\nhistory, RabbitMQ: {len(events)} events, {duplicates} duplicate deliveries, "
        f"{len(shuffled)} messages to 2 consumers ({[c.handled for c in consumers]}), "
        f"{taken_as_duplicates} taken as duplicates, {took:.1f} s"
    )
    assert all(c.handled > 0 for c in consumers)
    assert taken_as_duplicates == duplicates
    await assert_same(expected, store, events)
