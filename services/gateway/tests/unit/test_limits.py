from __future__ import annotations

from uuid import uuid4

import pytest

from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from tests.fakes import FakeClock


def test_rate_limiter_allows_the_limit_per_window_then_refuses(clock: FakeClock) -> None:
    limiter = PromptRateLimiter(3, clock=clock, window_s=60)
    for _ in range(3):
        assert limiter.try_acquire("alice", uuid4()) is None
        clock.advance(10)
    retry = limiter.try_acquire("alice", uuid4())
    assert retry == pytest.approx(30.0)  # the first prompt leaves the window at t0 + 60
    assert limiter.try_acquire("bob", uuid4()) is None  # per user
    clock.advance(30)
    assert limiter.try_acquire("alice", uuid4()) is None
    assert limiter.try_acquire("alice", uuid4()) is not None
    assert limiter.used("alice") == 3


def test_rate_limiter_refund_gives_back_that_prompt(clock: FakeClock) -> None:
    limiter = PromptRateLimiter(2, clock=clock)
    mine = uuid4()
    assert limiter.try_acquire("alice", mine) is None
    limiter.observe("alice", uuid4())  # another gateway's, learned while this one was publishing
    limiter.refund("alice", mine)
    assert limiter.used("alice") == 1  # the other gateway's prompt still counts
    assert limiter.try_acquire("alice", uuid4()) is None
    limiter.refund("nobody", uuid4())  # harmless
    limiter.refund("alice", uuid4())


def test_rate_limiter_counts_prompts_accepted_elsewhere(clock: FakeClock) -> None:
    limiter = PromptRateLimiter(3, clock=clock, window_s=60)
    limiter.observe("alice", uuid4())
    clock.advance(10)
    limiter.observe("alice", uuid4())
    assert limiter.try_acquire("alice", uuid4()) is None
    retry = limiter.try_acquire("alice", uuid4())
    assert retry == pytest.approx(50.0)  # the first observed prompt leaves the window at t0 + 60
    assert limiter.used("bob") == 0
    clock.advance(50)
    assert limiter.used("alice") == 2
    assert limiter.try_acquire("alice", uuid4()) is None


def test_rate_limiter_counts_a_prompt_once_by_message_id(clock: FakeClock) -> None:
    limiter = PromptRateLimiter(2, clock=clock)
    mine, theirs = uuid4(), uuid4()
    assert limiter.try_acquire("alice", mine) is None
    limiter.observe("alice", mine)  # this gateway's own prompt, back from the broker
    limiter.observe("alice", theirs)
    limiter.observe("alice", theirs)  # seen twice
    assert limiter.used("alice") == 2
    assert limiter.try_acquire("alice", mine) is None  # already counted, not refused
    assert limiter.try_acquire("alice", uuid4()) is not None


def test_rate_limiter_observes_beyond_the_limit(clock: FakeClock) -> None:
    limiter = PromptRateLimiter(1, clock=clock, window_s=60)
    assert limiter.try_acquire("alice", uuid4()) is None
    clock.advance(1)
    limiter.observe("alice", uuid4())  # two gateways admitted one each at the same instant
    assert limiter.used("alice") == 2
    clock.advance(59)
    assert limiter.try_acquire("alice", uuid4()) is not None  # the later one still fills the window
    clock.advance(1)
    assert limiter.try_acquire("alice", uuid4()) is None


def test_rate_limiter_forgets_idle_users(clock: FakeClock) -> None:
    limiter = PromptRateLimiter(5, clock=clock)
    for i in range(2048):  # the second sweep runs on call 2048
        limiter.try_acquire(f"user-{i}", uuid4())
        clock.advance(0.1)
    assert len(limiter) < 1000  # the sweeps dropped users whose window emptied


def test_rate_limiter_rejects_a_zero_limit(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PromptRateLimiter(0, clock=clock)


def test_generation_limiter_counts_running_generations_per_user(clock: FakeClock) -> None:
    limiter = GenerationLimiter(2, clock=clock, lease_s=600)
    first, second, third = uuid4(), uuid4(), uuid4()
    assert limiter.try_start("alice", first)
    assert limiter.try_start("alice", second)
    assert not limiter.try_start("alice", third)
    assert limiter.try_start("alice", first)  # already counted: idempotent
    assert limiter.try_start("bob", third)
    limiter.finish("alice", first)
    assert limiter.active("alice") == 1
    assert limiter.try_start("alice", third)
    limiter.finish("alice", uuid4())  # unknown: harmless
    limiter.finish("carol", uuid4())
    assert limiter.active("alice") == 2


def test_generation_limiter_add_counts_beyond_the_limit(clock: FakeClock) -> None:
    limiter = GenerationLimiter(1, clock=clock, lease_s=600)
    limiter.add("alice", uuid4())
    limiter.add("alice", uuid4())  # learned on resume: counted even over the limit
    assert limiter.active("alice") == 2
    assert not limiter.try_start("alice", uuid4())


def test_generation_limiter_leases_expire(clock: FakeClock) -> None:
    limiter = GenerationLimiter(1, clock=clock, lease_s=600)
    assert limiter.try_start("alice", uuid4())
    clock.advance(599)
    assert not limiter.try_start("alice", uuid4())
    clock.advance(1)
    assert limiter.try_start("alice", uuid4())
    clock.advance(600)
    assert limiter.active("alice") == 0


def test_generation_limiter_counts_generations_started_elsewhere_once(clock: FakeClock) -> None:
    limiter = GenerationLimiter(2, clock=clock, lease_s=600)
    mine, theirs = uuid4(), uuid4()
    assert limiter.try_start("alice", mine)
    limiter.add("alice", mine)  # this gateway's own prompt, back from the broker
    limiter.add("alice", theirs)  # another gateway's
    assert limiter.active("alice") == 2
    assert not limiter.try_start("alice", uuid4())
    assert limiter.try_start("bob", uuid4())
    limiter.finish("alice", theirs)  # its outcome event
    assert limiter.try_start("alice", uuid4())


def test_generation_limiter_does_not_count_again_a_generation_seen_ending(clock: FakeClock) -> None:
    limiter = GenerationLimiter(1, clock=clock, lease_s=600)
    message = uuid4()
    assert limiter.try_start("alice", message)
    limiter.finish("alice", message)  # its end relayed to the socket
    limiter.add("alice", message)  # its prompt, late from the broker
    assert limiter.active("alice") == 0
    assert limiter.try_start("alice", uuid4())
    later = uuid4()
    limiter.finish("bob", later)
    clock.advance(61)
    limiter.add("bob", later)  # over a minute on, an end is no longer remembered
    assert limiter.active("bob") == 1
