"""Use cases of the broker's events: heartbeats, control commands, quota, every gateway's
prompts and their outcomes; each from its publishers only."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
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
from parley_contracts.senders import Senders
from parley_contracts.topology import prompt_headers
from parley_gateway.domain.errors import ErrorCode, GatewayError
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.stats import LatencyWindow
from parley_gateway.services import broker_events, reports
from parley_gateway.services.broker_events import Inboxes
from tests.fakes import SENDERS, UNCHECKED, FakeClock, FakePublisher
from tests.unit.test_prompts import World


def heard(kind: str, body: bytes, *, sender: str | None = None, senders: Senders = UNCHECKED) -> Any:
    """What the consumer of `kind` hands its use case: the event its inbox read, or None."""
    return getattr(Inboxes.of(senders), kind).read(body, sender=sender)


def count_prompt(
    world: World, headers: Mapping[str, Any], *, sender: str | None = None, senders: Senders = UNCHECKED
) -> None:
    inbox = Inboxes.of(senders).prompts
    broker_events.record_prompt(
        headers, sender=sender, inbox=inbox, rate=world.rate, generations=world.generations
    )


@pytest.fixture
def world(clock: FakeClock, publisher: FakePublisher) -> World:
    return World(clock, publisher)


def test_heartbeats_feed_the_registry(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    registry = WorkerRegistry(clock=clock)
    beat = WorkerHeartbeat(worker_id="w9", models=("tiny",), capacity=4, free_slots=1, interval_s=2.0)
    broker_events.record_heartbeat(beat, registry=registry)
    assert reports.models_listing(registry) == {"models": [{"name": "tiny", "workers": 1, "free_slots": 1}]}
    future = beat.model_dump(mode="json") | {"version": 2, "worker_id": "w10"}
    with caplog.at_level(logging.WARNING):
        assert heard("heartbeats", orjson.dumps(future)) is None
        assert heard("heartbeats", b"{") is None
    assert "unsupported version 2 of 'worker.heartbeat'" in caplog.text


def test_control_commands_decode_or_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    command = RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="session.x")
    assert heard("control", command.to_json()) == command
    with caplog.at_level(logging.WARNING):
        assert heard("control", b'{"type": "generation.pause"}') is None
    assert "generation.pause" in caplog.text


def exceeded(user_id: str = "alice") -> QuotaExceeded:
    return QuotaExceeded(user_id=user_id, quota="tokens/day", limit=1000, used=1200)


def restored(user_id: str = "alice") -> QuotaRestored:
    return QuotaRestored(user_id=user_id, quota="tokens/day", limit=1000, used=0, reason="period_rolled")


async def test_a_user_over_quota_is_refused_without_publishing(world: World) -> None:
    broker_events.record_quota(exceeded(), blocked=world.blocked)
    broker_events.record_quota(exceeded("bob"), blocked=world.blocked)  # re-announced: idempotent
    broker_events.record_quota(exceeded("bob"), blocked=world.blocked)
    with pytest.raises(GatewayError) as refused:
        await world.submit(request_id="over")
    assert (refused.value.code, refused.value.request_id) == (ErrorCode.QUOTA_EXCEEDED, "over")
    assert type(refused.value) is GatewayError  # a plain refusal: the socket stays open
    assert world.publisher.prompts == []
    # Refused before the limits: the refusal spends neither a rate slot nor a generation slot.
    assert (world.generations.active("alice"), world.rate.used("alice")) == (0, 0)
    broker_events.record_quota(restored(), blocked=world.blocked)
    await world.submit()
    assert len(world.publisher.prompts) == 1
    assert "bob" in world.blocked
    assert "alice" not in world.blocked


async def test_a_block_lapses_unless_re_announced(world: World, clock: FakeClock) -> None:
    broker_events.record_quota(exceeded(), blocked=world.blocked)
    clock.advance(250)
    broker_events.record_quota(exceeded(), blocked=world.blocked)  # auth's periodic re-announcement
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
        assert heard("quota", orjson.dumps(future)) is None
        assert heard("quota", b"not json") is None
        broker_events.record_quota(restored("nobody"), blocked=blocked)
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
    broker_events.record_outcome(event, latency=latency, generations=world.generations)
    assert world.generations.active("alice") == 1
    assert latency.summary()["all"]["ttft_ms"]["count"] == (1 if outcome == "finished" else 0)
    await world.submit()


async def test_prompts_of_every_gateway_count_once_from_their_headers(world: World) -> None:
    accepted = await world.submit()
    [mine] = world.publisher.prompts
    # Every gateway's queue gets every accepted prompt, this one's own too: counted once.
    own = prompt_headers(mine.model, user_id=mine.user_id, message_id=mine.message_id)
    count_prompt(world, own)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (1, 1)
    elsewhere = uuid4()
    theirs = prompt_headers("tiny", user_id="alice", message_id=elsewhere)
    count_prompt(world, theirs)
    count_prompt(world, theirs)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)
    with pytest.raises(GatewayError) as refused:
        await world.submit()
    assert refused.value.code == ErrorCode.TOO_MANY_GENERATIONS
    # History's title requests and prompts without the headers count for nobody.
    count_prompt(world, prompt_headers("tiny"))
    count_prompt(world, {})
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)
    # The other gateway's generation ends: its slot is free here too; the rate still counts it.
    outcome = CompletionCancelled(
        user_id="alice", conversation_id=uuid4(), message_id=elsewhere, text="", model="tiny"
    )
    broker_events.record_outcome(outcome, latency=LatencyWindow(), generations=world.generations)
    await world.submit()
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 3)
    world.generations.finish("alice", accepted.message_id)
    with pytest.raises(GatewayError) as refused:
        await world.submit()  # a free slot, but three prompts this minute
    assert refused.value.code == ErrorCode.RATE_LIMITED


def test_quota_events_count_from_auth_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        for impostor in ("parley-history", "parley-inference", "parley-gateway", None):
            for event in (exceeded(), restored()):
                assert heard("quota", event.to_json(), sender=impostor, senders=SENDERS) is None
    assert (
        "dropping a forged message on quota events: 'quota.exceeded' sent by broker user 'parley-history'"
        in (caplog.text)
    )
    assert heard("quota", exceeded().to_json(), sender="parley-auth", senders=SENDERS) is not None


def test_with_one_broker_user_for_all_any_sender_counts() -> None:
    assert heard("quota", exceeded().to_json(), sender="parley-history", senders=UNCHECKED) is not None


def test_heartbeats_count_from_inference_only() -> None:
    beat = WorkerHeartbeat(worker_id="w9", models=("tiny",), capacity=4, free_slots=4, interval_s=2.0)
    assert heard("heartbeats", beat.to_json(), sender="parley-auth", senders=SENDERS) is None
    assert heard("heartbeats", beat.to_json(), sender="parley-inference", senders=SENDERS) == beat


def test_control_commands_count_from_gateways_only() -> None:
    command = RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="session.x")
    assert heard("control", command.to_json(), sender="parley-inference", senders=SENDERS) is None
    assert heard("control", command.to_json(), sender="parley-gateway", senders=SENDERS) == command


async def test_forged_prompts_and_outcomes_neither_take_nor_free_a_slot(world: World) -> None:
    accepted = await world.submit()
    forged_prompt = prompt_headers("tiny", user_id="alice", message_id=uuid4())
    # Inference's prompt is forged and counts for nothing; history's own prompt counts.
    for sender, counted in (("parley-inference", (1, 1)), ("parley-history", (2, 2))):
        count_prompt(world, forged_prompt, sender=sender, senders=SENDERS)
        assert (world.generations.active("alice"), world.rate.used("alice")) == counted, sender
    outcome = CompletionCancelled(
        user_id="alice",
        conversation_id=accepted.conversation_id,
        message_id=accepted.message_id,
        text="",
        model="tiny",
    )
    latency = LatencyWindow()
    # A gateway's outcome is forged and frees nothing; inference's frees the slot.
    for sender, active in (("parley-gateway", 2), ("parley-inference", 1)):
        event = heard("outcomes", outcome.to_json(), sender=sender, senders=SENDERS)
        if event is not None:
            broker_events.record_outcome(event, latency=latency, generations=world.generations)
        assert world.generations.active("alice") == active, sender


def test_quota_events_count_by_their_time_not_their_arrival(clock: FakeClock) -> None:
    """One queue's messages may be handled out of order: a block announced before the
    restore that arrives after it does not block the user again."""
    blocked = BlockedUsers(clock=clock, ttl_s=300)
    first, then = exceeded(), restored()
    broker_events.record_quota(then, blocked=blocked)
    broker_events.record_quota(first, blocked=blocked)  # late, and older
    assert "alice" not in blocked
    again = exceeded()  # a newer block counts
    broker_events.record_quota(again, blocked=blocked)
    assert "alice" in blocked
    broker_events.record_quota(then, blocked=blocked)  # redelivered, older than the block
    assert "alice" in blocked
