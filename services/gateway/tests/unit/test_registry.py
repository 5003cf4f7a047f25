from __future__ import annotations

from parley_gateway.domain.registry import ModelInfo, WorkerRegistry
from tests.fakes import FakeClock


def test_models_come_from_live_workers(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    registry.observe("w1", models=("tiny", "big"), capacity=4, free_slots=3, interval_s=1.0)
    registry.observe("w2", models=("tiny",), capacity=2, free_slots=0, interval_s=1.0)
    assert registry.models() == [ModelInfo("big", 1, 3), ModelInfo("tiny", 2, 3)]
    assert registry.serves("tiny")
    assert not registry.serves("huge")


def test_a_worker_dies_after_three_missed_heartbeats(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    registry.observe("w1", models=("tiny",), capacity=1, free_slots=1, interval_s=2.0)
    clock.advance(5.9)
    assert registry.serves("tiny")
    registry.observe("w2", models=("other",), capacity=1, free_slots=1, interval_s=10.0)
    clock.advance(0.1)
    assert not registry.serves("tiny")
    assert [w.worker_id for w in registry.live()] == ["w2"]
    assert registry.models() == [ModelInfo("other", 1, 1)]


def test_a_heartbeat_renews_and_replaces_the_state(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    registry.observe("w1", models=("tiny",), capacity=2, free_slots=2, interval_s=1.0)
    clock.advance(2.5)
    registry.observe("w1", models=("big",), capacity=2, free_slots=1, interval_s=1.0)
    clock.advance(2.5)
    assert registry.models() == [ModelInfo("big", 1, 1)]


def test_stopping_workers_take_no_prompts_but_may_hold_generations(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    registry.observe("busy", models=("tiny",), capacity=2, free_slots=1, interval_s=1.0, stopping=True)
    registry.observe("idle", models=("tiny",), capacity=2, free_slots=2, interval_s=1.0, stopping=True)
    registry.observe("live", models=("big",), capacity=2, free_slots=2, interval_s=1.0)
    assert not registry.serves("tiny")
    assert registry.models() == [ModelInfo("big", 1, 2)]
    assert registry.snapshot_holders() == frozenset({"busy", "live"})


def test_a_model_listed_twice_by_one_worker_counts_once(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    registry.observe("w1", models=("tiny", "tiny"), capacity=1, free_slots=1, interval_s=1.0)
    assert registry.models() == [ModelInfo("tiny", 1, 1)]
