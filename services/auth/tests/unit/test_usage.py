"""Usage accounting and quotas on in-memory fakes (mirrors integration/test_usage.py and
test_redelivery_order.py): each event counts once, each message is billed once, for its
first completion, and a crossing of the budget is announced once."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from parley_auth.domain.accounts import Role
from parley_auth.domain.model import Account
from parley_auth.domain.quota import DailyUsage, Price, QuotaPolicy
from parley_auth.ports import BrokerUnavailable
from parley_auth.services import usage
from parley_contracts import CompletionFinished, QuotaExceeded, QuotaRestored, Usage, new_id
from tests.completions import generated_again
from tests.fake_ledger import FakeLedgerStore
from tests.fakes import FakeAccountStore, FakeClock, FakeMetrics, FakePublisher

NOW = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


@dataclass
class Quotas:
    policy: QuotaPolicy = field(default_factory=lambda: QuotaPolicy("day", 1000))
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    accounts: FakeAccountStore = field(default_factory=FakeAccountStore)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)
    prices: dict[str, Price] = field(default_factory=lambda: {"m1": Price(1.0, 2.0)})

    def __post_init__(self) -> None:
        self.ledger = FakeLedgerStore(self.accounts)

    def _ports(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger, "publisher": self.publisher, "policy": self.policy,
            "clock": self.clock, "metrics": self.metrics,
        }  # fmt: skip

    async def record(self, *events: CompletionFinished) -> list[bool]:
        return [await usage.record_completion(e, prices=self.prices, **self._ports()) for e in events]

    async def reevaluate(self, user_id: str) -> None:
        await usage.reevaluate(user_id, **self._ports())

    async def sweep(self) -> None:
        await usage.sweep(**self._ports())

    async def rows(self, user_id: str) -> list[tuple[int, int, int]]:
        lines = await usage.usage(user_id=user_id, since=None, until=None, limit=100, ledger=self.ledger)
        return [(u.requests, u.prompt_tokens, u.completion_tokens) for u in lines]

    def announced(self, user_id: str) -> list[QuotaExceeded | QuotaRestored]:
        return [
            e
            for e in self.publisher.published
            if isinstance(e, QuotaExceeded | QuotaRestored) and e.user_id == user_id
        ]

    def quota_events(self, user_id: str) -> list[tuple[str, int]]:
        return [(e.type, e.used) for e in self.announced(user_id)]

    def account(self, budget_tokens: int | None = None) -> str:
        account = Account(
            id=new_id(), email="bob@parley.dev", email_norm="bob@parley.dev", display_name="Bob",
            password_hash="!", role=Role.USER, created_at=NOW, updated_at=NOW, budget_tokens=budget_tokens,
        )  # fmt: skip
        self.accounts.accounts[account.id] = account
        return str(account.id)


@pytest.fixture
def quotas() -> Quotas:
    return Quotas()


def finished(
    user_id: str, prompt: int, completion: int, model: str = "m1", **more: Any
) -> CompletionFinished:
    return CompletionFinished(
        user_id=user_id, conversation_id=uuid.uuid4(), message_id=uuid.uuid4(), model=model, text="hi",
        finish_reason="stop", usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        occurred_at=more.pop("occurred_at", NOW - timedelta(hours=1)), **more,
    )  # fmt: skip


async def test_a_completion_counts_once_per_event_id(quotas: Quotas) -> None:
    event = finished("alice", 100, 50)
    assert await quotas.record(event, event, event, finished("alice", 10, 5)) == [True, False, False, True]
    [line] = await usage.usage(user_id="alice", since=None, until=None, limit=10, ledger=quotas.ledger)
    assert (line.requests, line.prompt_tokens, line.completion_tokens) == (2, 110, 55)
    assert line.cost == pytest.approx((110 * 1.0 + 55 * 2.0) / 1_000_000)


@pytest.mark.parametrize("order", ["first", "second", "interleaved"])
async def test_an_answer_generated_twice_is_billed_once_as_the_first(quotas: Quotas, order: str) -> None:
    first = finished("alice", 100, 50)
    again = generated_again(first, 70)
    deliveries = {
        "first": [first, again],
        "second": [again, first],
        "interleaved": [again, first, again, first],
    }[order]
    await quotas.record(*deliveries)
    assert await quotas.rows("alice") == [(1, 100, 50)]
    [bill] = quotas.ledger.state.bills.values()
    assert bill.event_id == first.event_id


async def test_of_two_completions_at_one_moment_the_smaller_event_id_is_billed(quotas: Quotas) -> None:
    one = finished("alice", 10, 10)
    other = one.model_copy(
        update={"event_id": new_id(), "usage": Usage(prompt_tokens=10, completion_tokens=99)}
    )
    earlier, later = sorted((one, other), key=lambda e: e.event_id)
    assert await quotas.record(later, earlier) == [True, True]
    assert [b.event_id for b in quotas.ledger.state.bills.values()] == [earlier.event_id]


async def test_a_bill_taken_back_leaves_no_empty_day(quotas: Quotas) -> None:
    first = finished("alice", 10, 10, occurred_at=NOW - timedelta(days=1, minutes=1))
    again = generated_again(first, 5).model_copy(update={"occurred_at": NOW - timedelta(hours=20)})
    await quotas.record(again, first)
    assert [(u.day, u.requests) for u in quotas.ledger.rows("alice")] == [(first.occurred_at.date(), 1)]


async def test_the_quota_follows_the_bill_of_an_answer_generated_again(quotas: Quotas) -> None:
    first = finished("bob", 300, 100)
    await quotas.record(first, generated_again(first, 700), finished("bob", 1, 1))  # 1000, were it billed
    assert await quotas.rows("bob") == [(2, 301, 101)]
    assert quotas.quota_events("bob") == []
    second = finished("bob", 200, 300)
    await quotas.record(generated_again(second, 500))  # 402 + 700 >= 1000
    assert quotas.quota_events("bob") == [("quota.exceeded", 1102)]
    await quotas.record(second)  # 402 + 500 < 1000: the block lifts
    assert quotas.quota_events("bob") == [("quota.exceeded", 1102), ("quota.restored", 902)]
    assert _reason(quotas.announced("bob")[-1]) == "budget_raised"
    assert await quotas.rows("bob") == [(3, 501, 401)]


async def test_quota_exceeded_is_announced_once_and_restored_by_a_raised_budget(quotas: Quotas) -> None:
    bob = quotas.account()
    await quotas.record(finished(bob, 400, 200), finished(bob, 300, 200))  # 1100 >= 1000
    await quotas.record(finished(bob, 1, 1))  # still over: no second announcement
    assert quotas.quota_events(bob) == [("quota.exceeded", 1100)]
    assert quotas.ledger.state.blocks[bob].used == 1102  # the period's total so far
    quotas.accounts.accounts[uuid.UUID(bob)].budget_tokens = 5000
    await quotas.reevaluate(bob)
    restored = quotas.announced(bob)[-1]
    assert (_reason(restored), restored.limit) == ("budget_raised", 5000)
    assert quotas.ledger.state.blocks == {}
    assert (quotas.metrics.quota.count("quota.exceeded"), quotas.metrics.quota.count("quota.restored")) == (
        1,
        1,
    )


async def test_an_accounts_own_budget_comes_before_the_default(quotas: Quotas) -> None:
    own = quotas.account(budget_tokens=100)
    unlimited = quotas.account(budget_tokens=0)
    await quotas.record(
        finished(own, 60, 40), finished(unlimited, 5000, 5000), finished("not-a-uuid", 999, 1)
    )
    over = {user for user in (own, unlimited, "not-a-uuid") if quotas.quota_events(user)}
    assert over == {own, "not-a-uuid"}


async def test_the_sweep_announces_a_block_again_and_lifts_it_when_the_period_rolls(quotas: Quotas) -> None:
    await quotas.record(finished("bob", 900, 100))
    await quotas.sweep()
    assert quotas.quota_events("bob") == [("quota.exceeded", 1000), ("quota.exceeded", 1000)]
    quotas.clock.advance(4 * 3600)  # past midnight: the new day has no usage yet
    await quotas.sweep()
    restored = quotas.announced("bob")[-1]
    assert (_reason(restored), restored.used) == ("period_rolled", 0)
    await quotas.sweep()
    assert len(quotas.quota_events("bob")) == 3


async def test_a_block_of_a_past_period_gives_way_to_one_of_this_period_announced_once(
    quotas: Quotas,
) -> None:
    await quotas.record(finished("bob", 900, 100, occurred_at=NOW + timedelta(hours=4)))  # a clock ahead
    quotas.clock.advance(4 * 3600)
    await quotas.sweep()
    assert quotas.quota_events("bob") == [
        ("quota.exceeded", 1000),
        ("quota.restored", 1000),
        ("quota.exceeded", 1000),
    ]
    assert quotas.ledger.state.blocks["bob"].period_start == quotas.clock.now.date()


async def test_a_failed_announcement_rolls_the_completion_back(quotas: Quotas) -> None:
    event = finished("bob", 900, 100)
    quotas.publisher.up = False
    with pytest.raises(BrokerUnavailable):
        await quotas.record(event)
    assert quotas.ledger.state.processed == set()  # redelivered, it counts
    quotas.publisher.up = True
    assert await quotas.record(event) == [True]
    assert quotas.quota_events("bob") == [("quota.exceeded", 1000)]


async def test_cost_comes_from_the_catalogue_then_the_settings(quotas: Quotas) -> None:
    quotas.ledger.catalog_prices["cat"] = Price(3.0, 4.0)
    quotas.prices["cat"] = Price(100.0, 100.0)  # the catalogue's price wins
    await quotas.record(*(finished("alice", 1000, 2000, model=m) for m in ("cat", "m1", "unpriced")))
    costs = {u.model: u.cost_nanos for u in quotas.ledger.rows("alice")}
    assert costs == {"cat": 11_000_000, "m1": 5_000_000, "unpriced": 0}


async def test_duplicated_and_reordered_completions_end_the_same(quotas: Quotas) -> None:
    rng = random.Random(18)
    users = ["u1", "u2", "u3"]
    events = [
        finished(
            rng.choice(users),
            rng.randint(1, 200),
            rng.randint(1, 200),
            occurred_at=NOW - timedelta(minutes=n),
        )
        for n in range(60, 0, -1)
    ]
    events += [generated_again(e, rng.randint(1, 200)) for e in events[::7]]
    events.sort(key=lambda e: e.occurred_at)
    await quotas.record(*events)
    expected = _ledger_state(quotas)
    for seed in range(3):
        shuffled = Quotas()
        deliveries = events + rng.sample(events, 15)
        random.Random(seed).shuffle(deliveries)
        await shuffled.record(*deliveries)
        assert _ledger_state(shuffled) == expected
        for user in users:
            kinds = [kind for kind, _ in shuffled.quota_events(user)]
            assert all(a != b for a, b in itertools.pairwise(kinds)), kinds
            assert (kinds[-1:] == ["quota.exceeded"]) == (user in expected[2])


def _ledger_state(quotas: Quotas) -> tuple[list[DailyUsage], set[uuid.UUID], dict[str, int]]:
    state = quotas.ledger.state
    lines = sorted(state.usage.values(), key=lambda u: (u.user_id, u.model, u.day))
    return lines, {b.event_id for b in state.bills.values()}, {u: b.used for u, b in state.blocks.items()}


def _reason(event: QuotaExceeded | QuotaRestored) -> str:
    assert isinstance(event, QuotaRestored)
    return event.reason
