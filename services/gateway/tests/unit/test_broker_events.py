"""Use cases of the broker's events: heartbeats, control commands, quota, every gateway's
prompts and their outcomes; each from its publishers only."""

from __future__ import annotations

import logging
from uuid import uuid4

import orjson
import pytest

from parley_contracts import (
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    QuotaExceeded,
    QuotaRestored,
    RequestSnapshot,
    Usage,
    WorkerHeartbeat,
)
from parley_contracts.topology import prompt_headers
from parley_gateway.domain.errors import ErrorCode, GatewayError
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stats import LatencyWindow
from parley_gateway.services import broker_events, reports
from tests.fakes import ANYONE, SENDERS, UNCHECKED, FakeClock, FakePublisher
from tests.unit.test_prompts import World


@pytest.fixture
def world(clock: FakeClock, publisher: FakePublisher) -> World:
    return World(clock, publisher)


def test_heartbeats_feed_the_registry(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    registry = WorkerRegistry(clock=clock)
    beat = WorkerHeartbeat(worker_id="w9", models=("tiny",), capacity=4, free_slots=1, interval_s=2.0)
    broker_events.record_heartbeat(beat.to_json(), **ANYONE, registry=registry)
    assert reports.models_listing(registry) == {"models": [{"name": "tiny", "workers": 1, "free_slots": 1}]}
    future = beat.model_dump(mode="json") | {"version": 2, "worker_id": "w10"}
    with caplog.at_level(logging.WARNING):
        broker_events.record_heartbeat(orjson.dumps(future), **ANYONE, registry=registry)
        broker_events.record_heartbeat(b"{", **ANYONE, registry=registry)
    assert "unsupported version 2 of 'worker.heartbeat'" in caplog.text
    assert [w.worker_id for w in registry.live()] == ["w9"]


def test_control_commands_decode_or_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    command = RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="session.x")
    assert broker_events.decode_control(command.to_json(), **ANYONE) == command
    with caplog.at_level(logging.WARNING):
        assert broker_events.decode_control(b'{"type": "generation.pause"}', **ANYONE) is None
    assert "generation.pause" in caplog.text


def exceeded(user_id: str = "alice") -> QuotaExceeded:
    return QuotaExceeded(user_id=user_id, quota="tokens/day", limit=1000, used=1200)


def restored(user_id: str = "alice") -> QuotaRestored:
    return QuotaRestored(user_id=user_id, quota="tokens/day", limit=1000, used=0, reason="period_rolled")


async def test_a_user_over_quota_is_refused_without_publishing(world: World) -> None:
    broker_events.record_quota(exceeded().to_json(), **ANYONE, blocked=world.blocked)
    broker_events.record_quota(
        exceeded("bob").to_json(), **ANYONE, blocked=world.blocked
    )  # re-announced: idempotent
    broker_events.record_quota(exceeded("bob").to_json(), **ANYONE, blocked=world.blocked)
    with pytest.raises(GatewayError) as refused:
        await world.submit(request_id="over")
    assert (refused.value.code, refused.value.request_id) == (ErrorCode.QUOTA_EXCEEDED, "over")
    assert type(refused.value) is GatewayError  # a plain refusal: the socket stays open
    assert world.publisher.prompts == []
    # Refused before the limits: the refusal spends neither a rate slot nor a generation slot.
    assert (world.generations.active("alice"), world.rate.used("alice")) == (0, 0)
    broker_events.record_quota(restored().to_json(), **ANYONE, blocked=world.blocked)
    await world.submit()
    assert len(world.publisher.prompts) == 1
    assert "bob" in world.blocked
    assert "alice" not in world.blocked


async def test_a_block_lapses_unless_re_announced(world: World, clock: FakeClock) -> None:
    broker_events.record_quota(exceeded().to_json(), **ANYONE, blocked=world.blocked)
    clock.advance(250)
    broker_events.record_quota(
        exceeded().to_json(), **ANYONE, blocked=world.blocked
    )  # auth's periodic re-announcement
    clock.advance(250)
    assert "alice" in world.blocked
    clock.advance(60)  # no word from auth for 310 s: a lost `quota.restored` must not block for good
    assert "alice" not in world.blocked
    assert len(world.blocked) == 0
    world.registry.observe("w1", models=("tiny",), capacity=2, free_slots=2, interval_s=1.0)
    await world.submit()


def test_quota_events_this_gateway_does_not_understand_are_dropped(
    caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    blocked = BlockedUsers(clock=clock, ttl_s=300)
    future = exceeded().model_dump(mode="json") | {"version": 9}
    with caplog.at_level(logging.WARNING):
        broker_events.record_quota(orjson.dumps(future), **ANYONE, blocked=blocked)
        broker_events.record_quota(b"not json", **ANYONE, blocked=blocked)
        broker_events.record_quota(restored("nobody").to_json(), **ANYONE, blocked=blocked)
    assert len(blocked) == 0
    assert "unsupported version 9" in caplog.text


@pytest.mark.parametrize("outcome", ["finished", "failed", "cancelled"])
async def test_a_generation_holds_its_slot_until_its_outcome_event(world: World, outcome: str) -> None:
    """Not until its client leaves: a client that left does not end the generation."""
    first, _second = await world.submit(), await world.submit()
    with pytest.raises(GatewayError) as caught:
        await world.submit()
    assert caught.value.code is ErrorCode.TOO_MANY_GENERATIONS
    common = {
        "user_id": "alice",
        "conversation_id": first.conversation_id,
        "message_id": first.message_id,
        "model": "tiny",
    }
    event = {
        "finished": CompletionFinished(**common, text="t", finish_reason="stop", usage=Usage(), ttft_ms=5.0),
        "failed": CompletionFailed(**common, code="provider_error", message="m"),
        "cancelled": CompletionCancelled(**common, text="t"),
    }[outcome]
    latency = LatencyWindow()
    broker_events.record_outcome(event.to_json(), **ANYONE, latency=latency, generations=world.generations)
    assert world.generations.active("alice") == 1
    assert latency.summary()["all"]["ttft_ms"]["count"] == (1 if outcome == "finished" else 0)
    await world.submit()


async def test_prompts_of_every_gateway_count_once_from_their_headers(world: World) -> None:
    accepted = await world.submit()
    [mine] = world.publisher.prompts
    # Every gateway's queue gets every accepted prompt, this one's own too: counted once.
    own = prompt_headers(mine.model, user_id=mine.user_id, message_id=mine.message_id)
    broker_events.record_prompt(own, **ANYONE, rate=world.rate, generations=world.generations)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (1, 1)
    elsewhere = uuid4()
    theirs = prompt_headers("tiny", user_id="alice", message_id=elsewhere)
    broker_events.record_prompt(theirs, **ANYONE, rate=world.rate, generations=world.generations)
    broker_events.record_prompt(theirs, **ANYONE, rate=world.rate, generations=world.generations)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)
    with pytest.raises(GatewayError) as refused:
        await world.submit()
    assert refused.value.code == ErrorCode.TOO_MANY_GENERATIONS
    # History's title requests and prompts without the headers count for nobody.
    broker_events.record_prompt(
        prompt_headers("tiny"), **ANYONE, rate=world.rate, generations=world.generations
    )
    broker_events.record_prompt({}, **ANYONE, rate=world.rate, generations=world.generations)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)
    # The other gateway's generation ends: its slot is free here too; the rate still counts it.
    outcome = CompletionCancelled(
        user_id="alice", conversation_id=uuid4(), message_id=elsewhere, text="", model="tiny"
    )
    broker_events.record_outcome(
        outcome.to_json(), **ANYONE, latency=LatencyWindow(), generations=world.generations
    )
    await world.submit()
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 3)
    world.generations.finish("alice", accepted.message_id)
    with pytest.raises(GatewayError) as refused:
        await world.submit()  # a free slot, but three prompts this minute
    assert refused.value.code == ErrorCode.RATE_LIMITED


def test_quota_events_count_from_auth_only(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    blocked = BlockedUsers(clock=clock, ttl_s=300)
    with caplog.at_level(logging.ERROR):
        for impostor in ("parley-history", "parley-inference", "parley-gateway", None):
            broker_events.record_quota(
                exceeded().to_json(), sender=impostor, senders=SENDERS, blocked=blocked
            )
    assert len(blocked) == 0
    assert (
        "dropping a forged quota event: 'quota.exceeded' sent by broker user 'parley-history'" in caplog.text
    )
    broker_events.record_quota(exceeded().to_json(), sender="parley-auth", senders=SENDERS, blocked=blocked)
    assert "alice" in blocked
    broker_events.record_quota(
        restored().to_json(), sender="parley-history", senders=SENDERS, blocked=blocked
    )
    assert "alice" in blocked
    broker_events.record_quota(restored().to_json(), sender="parley-auth", senders=SENDERS, blocked=blocked)
    assert "alice" not in blocked


def test_with_one_broker_user_for_all_any_sender_counts(clock: FakeClock) -> None:
    blocked = BlockedUsers(clock=clock, ttl_s=300)
    broker_events.record_quota(
        exceeded().to_json(), sender="parley-history", senders=UNCHECKED, blocked=blocked
    )
    broker_events.record_quota(exceeded("bob").to_json(), **ANYONE, blocked=blocked)
    assert ("alice" in blocked, "bob" in blocked) == (True, True)


def test_heartbeats_count_from_inference_only(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    beat = WorkerHeartbeat(worker_id="w9", models=("tiny",), capacity=4, free_slots=4, interval_s=2.0)
    broker_events.record_heartbeat(beat.to_json(), sender="parley-auth", senders=SENDERS, registry=registry)
    assert registry.live() == []
    broker_events.record_heartbeat(
        beat.to_json(), sender="parley-inference", senders=SENDERS, registry=registry
    )
    assert [w.worker_id for w in registry.live()] == ["w9"]


def test_control_commands_count_from_gateways_only() -> None:
    command = RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="session.x")
    assert broker_events.decode_control(command.to_json(), sender="parley-inference", senders=SENDERS) is None
    assert (
        broker_events.decode_control(command.to_json(), sender="parley-gateway", senders=SENDERS) == command
    )


async def test_forged_prompts_and_outcomes_neither_take_nor_free_a_slot(world: World) -> None:
    accepted = await world.submit()
    forged_prompt = prompt_headers("tiny", user_id="alice", message_id=uuid4())
    broker_events.record_prompt(
        forged_prompt,
        sender="parley-inference",
        senders=SENDERS,
        rate=world.rate,
        generations=world.generations,
    )
    assert (world.generations.active("alice"), world.rate.used("alice")) == (1, 1)
    broker_events.record_prompt(
        forged_prompt,
        sender="parley-history",
        senders=SENDERS,
        rate=world.rate,
        generations=world.generations,
    )
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)  # history's own prompt
    outcome = CompletionCancelled(
        user_id="alice",
        conversation_id=accepted.conversation_id,
        message_id=accepted.message_id,
        text="",
        model="tiny",
    )
    latency = LatencyWindow()
    broker_events.record_outcome(
        outcome.to_json(),
        sender="parley-gateway",
        senders=SENDERS,
        latency=latency,
        generations=world.generations,
    )
    assert world.generations.active("alice") == 2
    broker_events.record_outcome(
        outcome.to_json(),
        sender="parley-inference",
        senders=SENDERS,
        latency=latency,
        generations=world.generations,
    )
    assert world.generations.active("alice") == 1
