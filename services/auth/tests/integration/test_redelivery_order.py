"""Duplicated and reordered `completion.finished` deliveries leave auth's usage ledger
and quota state unchanged.

A seeded ledger of a few hundred finished completions (several users and models, today
and yesterday, budgets crossed by some users and not by others, one user with a
budget of their own, and some answers generated twice: a second completion of the
same message, later, of another length, under a new event id, as a request delivered
again after a lost confirm makes it; one of them past midnight) is counted once in
order into database A; then, with about a quarter of the events delivered two or three
times, in other orders into fresh databases: locally swapped, fully shuffled and
backwards through the consumer's use case (`usage.record_completion`), and once
through the real RabbitMQ queue `auth.usage` to two auth apps consuming it side by
side. The `usage` rows (requests, tokens, cost per user, model and day: each message
billed once, for its first completion), the processed event ids, the billed messages
and the quota blocks must equal A's; each user who ends over budget is announced over
quota, and the announcements of a user alternate (a bill taken back may lift a block).

Auth consumes no catalogue events (workers ask `catalog.requests`, a request-reply,
and auth publishes `catalog.updated`), so there is nothing of the catalogue to reorder.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aio_pika
import orjson
import pytest
from sqlalchemy import text

from parley_auth import usage
from parley_auth.__main__ import migrate
from parley_auth.adapters.orm import UserRow
from parley_auth.adapters.passwords import Argon2Hasher
from parley_auth.adapters.repository import Database
from parley_auth.bootstrap import Auth, bootstrap
from parley_auth.entrypoints.app import create_app
from parley_auth.settings import Settings
from parley_contracts import CompletionFinished, Usage
from parley_contracts.topology import CHAT_EVENTS
from parley_platform.rabbit import declare_exchange
from tests.conftest import fresh_postgres, in_thread
from tests.fakes import FakePublisher
from tests.integration.conftest import make_settings

SEED = 9_2026
NOW = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
BUDGET = 9000
OWN_BUDGET = 2500
MODELS = ("m1", "m2", "m3")  # m3 has no price: cost 0
Rows = dict[str, list[tuple[Any, ...]]]
ORDERS: dict[str, int | None] = {"local swaps": 6, "full shuffle": None, "backwards": -1}


class Ledger:
    """The completions, in the order they finished, and who of the users must end over budget."""

    def __init__(self, seed: int, *, events: int = 300, users: int = 6) -> None:
        rng = random.Random(seed)
        self.own_budget_user = uuid.UUID(int=rng.getrandbits(128), version=4)
        self.users = [f"ledger-{seed}-u{n}" for n in range(users - 1)] + [str(self.own_budget_user)]
        weights = [1.0 / (n + 1) for n in range(users)]  # a few heavy users, a long tail
        at = NOW - timedelta(hours=30)
        self.events: list[CompletionFinished] = []
        for _ in range(events):
            at += timedelta(seconds=rng.randint(0, 670))  # some share a timestamp
            self.events.append(
                CompletionFinished(
                    event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    occurred_at=at,
                    user_id=rng.choices(self.users, weights)[0],
                    conversation_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    message_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    model=rng.choice(MODELS),
                    worker_id="w1",
                    text="answer",
                    finish_reason="stop",
                    usage=Usage(prompt_tokens=rng.randint(1, 400), completion_tokens=rng.randint(1, 300)),
                )
            )
        assert at < NOW
        again = random.Random(seed + 1)
        midnight = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)
        yesterday = [e for e in self.events if e.occurred_at < midnight]
        last_of_yesterday = max(yesterday, key=lambda e: e.occurred_at)
        twice = [e for e in self.events if again.random() < 0.1 and e is not last_of_yesterday]
        self.events += [
            self.generated_again(e, e.occurred_at + timedelta(seconds=again.randint(1, 40)), again)
            for e in twice
        ]
        self.events.append(self.generated_again(last_of_yesterday, midnight + timedelta(seconds=30), again))
        self.events.sort(key=lambda e: e.occurred_at)  # in the order they finished
        assert max(e.occurred_at for e in self.events) < NOW

    @staticmethod
    def generated_again(event: CompletionFinished, at: datetime, rng: random.Random) -> CompletionFinished:
        """The same message answered again (its request delivered again): another event, later."""
        return event.model_copy(
            update={
                "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "occurred_at": at,
                "worker_id": "w2",
                "usage": Usage(
                    prompt_tokens=event.usage.prompt_tokens, completion_tokens=rng.randint(1, 300)
                ),
            }
        )

    def billed(self) -> list[CompletionFinished]:
        """Each message's completion that is billed: its first (the answer its user saw)."""
        first: dict[uuid.UUID, CompletionFinished] = {}
        for e in self.events:  # in the order they finished
            first.setdefault(e.message_id, e)
        return list(first.values())

    def tokens_today(self, user: str) -> int:
        return sum(
            e.usage.prompt_tokens + e.usage.completion_tokens
            for e in self.billed()
            if e.user_id == user and e.occurred_at.date() == NOW.date()
        )

    def over_budget(self) -> set[str]:
        return {
            u
            for u in self.users
            if self.tokens_today(u) >= (OWN_BUDGET if u == str(self.own_budget_user) else BUDGET)
        }


def reordered(
    events: list[CompletionFinished], *, seed: int, window: int | None
) -> tuple[list[CompletionFinished], int]:
    """Some events two or three times, then moved at most about `window` places (None: a
    full shuffle; -1: backwards). Returns (deliveries, duplicates added)."""
    rng = random.Random(seed)
    placed: list[tuple[float, CompletionFinished]] = []
    for index, event in enumerate(events):
        copies = 1 + (rng.choice([1, 1, 2]) if rng.random() < 0.25 else 0)
        placed += [(index + copy * rng.uniform(0, 3 * max(window or 1, 1)), event) for copy in range(copies)]
    duplicates = len(placed) - len(events)
    if window is None:
        rng.shuffle(placed)
        return [event for _, event in placed], duplicates
    if window == -1:
        return [event for _, event in sorted(placed, key=lambda item: -item[0])], duplicates
    return [
        event for _, event in sorted(placed, key=lambda item: item[0] + rng.uniform(0, window))
    ], duplicates


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger(SEED)


@pytest.fixture
async def fresh_databases() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """`await fresh()`: a new migrated database; all dropped at the end."""
    databases = ExitStack()

    async def fresh() -> str:
        url = await asyncio.to_thread(databases.enter_context, fresh_postgres("parley_auth_test"))
        await asyncio.to_thread(in_thread, migrate, url)
        return url

    yield fresh
    await asyncio.to_thread(databases.close)


def ledger_settings(url: str, amqp_url: str) -> Settings:
    return make_settings(
        url,
        amqp_url,
        default_budget_tokens=BUDGET,
        prices={
            "m1": {"input_price_per_mtok": 0.15, "output_price_per_mtok": 0.6},
            "m2": {"input_price_per_mtok": 3.0, "output_price_per_mtok": 15.0},
        },
    )


async def _with_own_budget(db: Database, ledger: Ledger) -> None:
    async with db.transaction() as repo:
        await repo.add_user(
            UserRow(
                id=ledger.own_budget_user, email="own@parley.dev", email_norm="own@parley.dev",
                display_name="Own budget", password_hash="!", role="user", disabled=False,
                preferences={}, budget_tokens=OWN_BUDGET, created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip


async def state(db: Database, ledger: Ledger) -> Rows:
    """The ledger and quota tables, row for row (processed events: their ids)."""
    async with db.engine.connect() as connection:
        rows = {
            name: [tuple(r) for r in await connection.execute(text(sql))]
            for name, sql in {
                "usage": "SELECT * FROM usage ORDER BY user_id, model, day",
                "quota_blocks": "SELECT * FROM quota_blocks ORDER BY user_id",
                "processed_events": "SELECT event_id FROM processed_events ORDER BY event_id",
                "billed_messages": "SELECT * FROM billed_messages ORDER BY message_id",
            }.items()
        }
    # (another test's leftovers on the shared `auth.usage` queue are not this ledger's)
    mine, ids = set(ledger.users), {e.event_id for e in ledger.events}
    rows["usage"] = [r for r in rows["usage"] if r[0] in mine]
    rows["quota_blocks"] = [r for r in rows["quota_blocks"] if r[0] in mine]
    rows["processed_events"] = [r for r in rows["processed_events"] if r[0] in ids]
    rows["billed_messages"] = [r for r in rows["billed_messages"] if r[1] in ids]
    return rows


async def count_directly(
    url: str, amqp_url: str, hasher: Argon2Hasher, ledger: Ledger, deliveries: list[CompletionFinished]
) -> tuple[Rows, FakePublisher, float]:
    publisher = FakePublisher()
    auth = bootstrap(ledger_settings(url, amqp_url), publisher=publisher, hasher=hasher, now=lambda: NOW)
    try:
        await _with_own_budget(auth.db, ledger)
        started = time.perf_counter()
        for event in deliveries:
            await usage.record_completion(event, auth=auth)
        took = time.perf_counter() - started
        return await state(auth.db, ledger), publisher, took
    finally:
        await auth.db.close()


def assert_same(actual: Rows, expected: Rows) -> None:
    for table, rows in expected.items():
        differ = [(a, e) for a, e in zip(actual[table], rows, strict=False) if a != e]
        assert actual[table] == rows, f"{table}: {len(differ)} row(s) differ, e.g. {differ[:2]}"


def assert_quota_decisions(events: list[dict[str, Any]] | list[Any], ledger: Ledger) -> None:
    """Per user: exceeded, restored, exceeded, ... never twice the same in a row, ending
    exceeded exactly for the users over budget."""
    story: dict[str, list[str]] = {}
    for e in events:
        user, kind = (e["user_id"], e["type"]) if isinstance(e, dict) else (e.user_id, e.type)
        if user in ledger.users and kind in ("quota.exceeded", "quota.restored"):
            story.setdefault(user, []).append(kind)
    for user, kinds in story.items():
        assert all(a != b for a, b in itertools.pairwise(kinds)), (user, kinds)
        assert kinds[0] == "quota.exceeded", (user, kinds)
    assert {u for u, kinds in story.items() if kinds[-1] == "quota.exceeded"} == ledger.over_budget()


async def test_the_ledger_crosses_budgets(ledger: Ledger) -> None:
    over = ledger.over_budget()
    assert str(ledger.own_budget_user) in over
    assert 2 <= len(over) < len(ledger.users)
    assert {e.occurred_at.date() for e in ledger.events} == {NOW.date() - timedelta(days=1), NOW.date()}
    twice = len(ledger.events) - len(ledger.billed())
    assert 10 <= twice < len(ledger.events) // 5
    days: dict[uuid.UUID, set[date]] = {}
    for e in ledger.events:
        days.setdefault(e.message_id, set()).add(e.occurred_at.date())
    assert any(len(d) == 2 for d in days.values())  # an answer generated again past midnight


@pytest.mark.parametrize("order", list(ORDERS))
async def test_duplicated_and_reordered_completions_count_the_same(
    order: str, ledger: Ledger, fresh_databases: Callable[[], Any], amqp_url: str, hasher: Argon2Hasher
) -> None:
    expected, in_order_publisher, first = await count_directly(
        await fresh_databases(), amqp_url, hasher, ledger, ledger.events
    )
    assert len(expected["processed_events"]) == len(ledger.events)
    billed = ledger.billed()  # each message once, for its first completion
    assert [sum(r[i] for r in expected["usage"]) for i in (3, 4, 5)] == [
        len(billed),
        sum(e.usage.prompt_tokens for e in billed),
        sum(e.usage.completion_tokens for e in billed),
    ]
    assert sorted(r[1] for r in expected["billed_messages"]) == sorted(e.event_id for e in ledger.billed())
    assert {r[0] for r in expected["quota_blocks"]} == ledger.over_budget()
    assert_quota_decisions(in_order_publisher.published, ledger)

    deliveries, duplicates = reordered(ledger.events, seed=SEED + len(order), window=ORDERS[order])
    actual, publisher, took = await count_directly(
        await fresh_databases(), amqp_url, hasher, ledger, deliveries
    )
    print(  # noqa: T201
        f"\nauth, {order}: {len(ledger.events)} completions of {len(ledger.users)} users, "
        f"{duplicates} duplicate deliveries, {len(deliveries)} deliveries, "
        f"{len(ledger.over_budget())} users over budget; in order {first:.1f} s, reordered {took:.1f} s"
    )
    assert_same(actual, expected)
    assert_quota_decisions(publisher.published, ledger)


async def test_through_rabbitmq_to_two_consuming_apps(
    ledger: Ledger, fresh_databases: Callable[[], Any], amqp_url: str, hasher: Argon2Hasher
) -> None:
    expected, _, _ = await count_directly(await fresh_databases(), amqp_url, hasher, ledger, ledger.events)
    url = await fresh_databases()
    settings = ledger_settings(url, amqp_url)
    apps = [bootstrap(settings, hasher=hasher, now=lambda: NOW) for _ in range(2)]
    await _with_own_budget(apps[0].db, ledger)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_exchange(channel, CHAT_EVENTS)
        quota = await channel.declare_queue(exclusive=True)
        await quota.bind(exchange, routing_key="quota.*")
        async with (
            _running(apps[0]),
            _running(apps[1]),
        ):
            deliveries, duplicates = reordered(ledger.events, seed=SEED + 1, window=6)
            started = time.perf_counter()
            for event in deliveries:
                message = aio_pika.Message(event.to_json(), content_type="application/json")
                await exchange.publish(message, routing_key=event.type)
            deadline = time.monotonic() + 120
            while len((await state(apps[0].db, ledger))["processed_events"]) < len(ledger.events):
                assert time.monotonic() < deadline, "not every completion was counted in time"
                await asyncio.sleep(0.2)
            while sum(_handled(app) for app in apps) < len(deliveries):  # the duplicates too
                assert time.monotonic() < deadline, (
                    f"{sum(_handled(a) for a in apps)}/{len(deliveries)} handled"
                )
                await asyncio.sleep(0.2)
            took = time.perf_counter() - started
            actual = await state(apps[0].db, ledger)
        announced: list[dict[str, Any]] = []
        while (received := await quota.get(fail=False)) is not None:
            await received.ack()
            announced.append(dict(orjson.loads(received.body)))
    finally:
        await connection.close()
    counted = [_handled(app) for app in apps]
    print(  # noqa: T201
        f"\nauth, RabbitMQ: {len(ledger.events)} completions, {duplicates} duplicate deliveries, "
        f"{len(deliveries)} messages to 2 apps ({counted}), {took:.1f} s"
    )
    assert all(c > 0 for c in counted)
    assert_same(actual, expected)
    assert_quota_decisions(announced, ledger)


def _handled(auth: Auth) -> int:
    return int(sum(auth.metrics.events.labels(result)._value.get() for result in ("counted", "duplicate")))


@asynccontextmanager
async def _running(auth: Auth) -> AsyncIterator[None]:
    """An auth app's lifespan (its broker subscribers on `auth.usage`), without HTTP."""
    app = create_app(auth.settings, auth=auth)
    async with app.router.lifespan_context(app):
        yield
