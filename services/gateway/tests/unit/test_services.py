from __future__ import annotations

import logging
from uuid import uuid4

import orjson
import pytest

from parley_contracts import (
    CancelGeneration,
    ChatMessage,
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
from parley_gateway import services
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import ErrorCode, GatewayError
from parley_gateway.domain.frames import Prompt
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.sessions import new_owned_id, owns
from parley_gateway.domain.stats import LatencyWindow
from tests.fakes import ANYONE, SENDERS, UNCHECKED, FakeClock, FakePublisher

ALICE = Principal(user_id="alice", role="user", expires_at=2e9)


class World:
    def __init__(self, clock: FakeClock, publisher: FakePublisher) -> None:
        self.publisher = publisher
        self.registry = WorkerRegistry(clock=clock)
        self.registry.observe("w1", models=("tiny",), capacity=2, free_slots=2, interval_s=1.0)
        self.rate = PromptRateLimiter(3, clock=clock)
        self.generations = GenerationLimiter(2, clock=clock, lease_s=600)
        self.blocked = BlockedUsers(clock=clock, ttl_s=300)
        self.session_id = uuid4()

    async def submit(self, model: str = "tiny", **prompt: object) -> services.Accepted:
        frame = Prompt.model_validate(
            {
                "type": "prompt",
                "request_id": "r1",
                "model": model,
                "messages": [{"role": "user", "content": "hi"}],
                **prompt,
            }
        )
        return await services.submit_prompt(
            services.SubmitPrompt(ALICE, self.session_id, frame),
            publisher=self.publisher,
            registry=self.registry,
            rate=self.rate,
            generations=self.generations,
            blocked=self.blocked,
        )


@pytest.fixture
def world(clock: FakeClock, publisher: FakePublisher) -> World:
    return World(clock, publisher)


async def test_a_prompt_is_published_with_its_reply_queue(world: World) -> None:
    parent = uuid4()
    accepted = await world.submit(parent_id=str(parent), params={"temperature": 0.2})
    [event] = world.publisher.prompts
    assert event.message_id == accepted.message_id
    assert event.conversation_id == accepted.conversation_id
    assert event.reply_to == f"session.{world.session_id}"
    assert event.session_id == world.session_id
    assert event.user_id == "alice"
    assert event.parent_id == parent
    assert event.prompt_message_id not in (event.message_id, event.conversation_id)
    assert event.messages == (ChatMessage(role="user", content="hi"),)
    assert event.params.temperature == 0.2
    assert accepted.request_id == "r1"
    assert world.generations.active("alice") == 1


async def test_accepted_names_the_user_message_and_a_regenerate_answers_it_again(world: World) -> None:
    first = await world.submit()
    assert first.prompt_message_id == world.publisher.prompts[0].prompt_message_id
    again = await world.submit(
        conversation_id=str(first.conversation_id), prompt_message_id=str(first.prompt_message_id)
    )
    second = world.publisher.prompts[1]
    assert second.prompt_message_id == first.prompt_message_id == again.prompt_message_id
    assert again.message_id != first.message_id  # a new answer beside the first


async def test_a_project_files_only_a_new_conversation(world: World) -> None:
    project = new_owned_id("alice")
    await world.submit(project_id=str(project))
    await world.submit(project_id=str(project), conversation_id=str(uuid4()))
    assert [e.project_id for e in world.publisher.prompts] == [project, None]


async def test_an_unmarked_project_id_of_before_still_files_the_conversation(world: World) -> None:
    project = uuid4()  # history minted project ids without their owner before
    await world.submit(project_id=str(project))
    assert [e.project_id for e in world.publisher.prompts] == [project]


async def test_an_existing_conversation_is_kept(world: World) -> None:
    conversation = uuid4()
    accepted = await world.submit(conversation_id=str(conversation))
    assert accepted.conversation_id == conversation


@pytest.mark.parametrize("field", ["conversation_id", "parent_id", "prompt_message_id", "project_id"])
async def test_a_prompt_naming_another_users_conversation_message_or_project_is_refused(
    world: World, field: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        await world.submit(**{field: str(new_owned_id("bob"))})
    assert (caught.value.code, caught.value.request_id) == (ErrorCode.NOT_FOUND, "r1")
    assert world.publisher.prompts == []
    assert world.rate.used("alice") == 0
    assert world.generations.active("alice") == 0


async def test_the_ids_minted_for_a_prompt_carry_their_owner(world: World) -> None:
    accepted = await world.submit()
    assert owns(accepted.conversation_id, "alice")
    assert owns(accepted.prompt_message_id, "alice")
    again = await world.submit(conversation_id=str(accepted.conversation_id))
    assert again.conversation_id == accepted.conversation_id


async def test_a_model_no_live_worker_serves_is_refused_at_once(world: World, clock: FakeClock) -> None:
    with pytest.raises(GatewayError) as caught:
        await world.submit(model="huge")
    assert (caught.value.code, caught.value.request_id) == (ErrorCode.MODEL_UNAVAILABLE, "r1")
    clock.advance(3.0)  # the only worker is gone now
    with pytest.raises(GatewayError):
        await world.submit()
    assert world.publisher.prompts == []
    assert world.rate.used("alice") == 0


async def test_concurrent_generations_are_limited(world: World) -> None:
    await world.submit()
    await world.submit()
    with pytest.raises(GatewayError) as caught:
        await world.submit()
    assert caught.value.code == ErrorCode.TOO_MANY_GENERATIONS
    assert len(world.publisher.prompts) == 2
    assert world.rate.used("alice") == 2  # a refused prompt costs nothing


async def test_prompts_per_minute_are_limited(world: World, clock: FakeClock) -> None:
    for _ in range(3):
        accepted = await world.submit()
        world.generations.finish("alice", accepted.message_id)
    with pytest.raises(GatewayError) as caught:
        await world.submit()
    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert "try again in 60.0 s" in caught.value.message
    assert world.generations.active("alice") == 0
    clock.advance(60)
    world.registry.observe("w1", models=("tiny",), capacity=2, free_slots=2, interval_s=1.0)
    await world.submit()


async def test_a_broker_outage_refuses_the_prompt_and_rolls_back(world: World) -> None:
    world.publisher.down = True
    with pytest.raises(GatewayError) as caught:
        await world.submit()
    assert caught.value.code == ErrorCode.BROKER_UNAVAILABLE
    assert world.generations.active("alice") == 0
    assert world.rate.used("alice") == 0


async def test_a_prompt_without_its_confirm_is_withdrawn_and_refused(world: World) -> None:
    world.publisher.unconfirmed = True
    with pytest.raises(GatewayError) as caught:
        await world.submit()
    assert caught.value.code == ErrorCode.BROKER_UNAVAILABLE
    assert "withdrawn" in caught.value.message
    (maybe_queued,) = world.publisher.prompts
    (withdrawal,) = world.publisher.control
    assert isinstance(withdrawal, CancelGeneration)
    assert (withdrawal.message_id, withdrawal.user_id) == (maybe_queued.message_id, "alice")
    assert world.generations.active("alice") == 0
    assert world.rate.used("alice") == 0


async def test_a_withdrawal_that_cannot_be_sent_still_refuses_the_prompt(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.publisher.unconfirmed = world.publisher.control_down = True
    with pytest.raises(GatewayError) as caught, caplog.at_level(logging.WARNING):
        await world.submit()
    assert caught.value.code == ErrorCode.BROKER_UNAVAILABLE
    assert world.publisher.control == []
    assert "may still be answered" in caplog.text
    assert world.generations.active("alice") == 0


async def test_stop_publishes_a_cancel_for_a_running_message(publisher: FakePublisher) -> None:
    message_id = uuid4()
    await services.stop_generation(ALICE, message_id, running=True, publisher=publisher)
    assert publisher.control == [
        CancelGeneration(
            event_id=publisher.control[0].event_id,
            occurred_at=publisher.control[0].occurred_at,
            message_id=message_id,
            user_id="alice",
        )
    ]


async def test_stop_of_a_message_not_running_here_is_refused(publisher: FakePublisher) -> None:
    message_id = uuid4()
    with pytest.raises(GatewayError) as caught:
        await services.stop_generation(ALICE, message_id, running=False, publisher=publisher)
    assert (caught.value.code, caught.value.message_id) == (ErrorCode.UNKNOWN_MESSAGE, message_id)
    assert publisher.control == []
    publisher.down = True
    with pytest.raises(GatewayError) as caught:
        await services.stop_generation(ALICE, message_id, running=True, publisher=publisher)
    assert caught.value.code == ErrorCode.BROKER_UNAVAILABLE


async def test_snapshot_requests_expect_the_workers_that_may_hold_generations(world: World) -> None:
    world.registry.observe("w2", models=("tiny",), capacity=1, free_slots=1, interval_s=1.0, stopping=True)
    request_id = uuid4()
    hold = await services.request_snapshots(
        world.session_id, publisher=world.publisher, registry=world.registry, request_id=request_id
    )
    assert hold.expected == {"w1"}
    [command] = world.publisher.control
    assert isinstance(command, RequestSnapshot)
    assert (command.request_id, command.session_id) == (request_id, world.session_id)
    assert command.reply_to == f"session.{world.session_id}"
    world.publisher.down = True  # a failed request still holds, until the deadline
    hold = await services.request_snapshots(
        world.session_id, publisher=world.publisher, registry=world.registry
    )
    assert not hold.complete


def test_heartbeats_feed_the_registry(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    registry = WorkerRegistry(clock=clock)
    beat = WorkerHeartbeat(worker_id="w9", models=("tiny",), capacity=4, free_slots=1, interval_s=2.0)
    services.record_heartbeat(beat.to_json(), **ANYONE, registry=registry)
    assert services.models_listing(registry) == {"models": [{"name": "tiny", "workers": 1, "free_slots": 1}]}
    future = beat.model_dump(mode="json") | {"version": 2, "worker_id": "w10"}
    with caplog.at_level(logging.WARNING):
        services.record_heartbeat(orjson.dumps(future), **ANYONE, registry=registry)
        services.record_heartbeat(b"{", **ANYONE, registry=registry)
    assert "unsupported version 2 of 'worker.heartbeat'" in caplog.text
    assert [w.worker_id for w in registry.live()] == ["w9"]


def test_control_commands_decode_or_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    command = RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="session.x")
    assert services.decode_control(command.to_json(), **ANYONE) == command
    with caplog.at_level(logging.WARNING):
        assert services.decode_control(b'{"type": "generation.pause"}', **ANYONE) is None
    assert "generation.pause" in caplog.text


def exceeded(user_id: str = "alice") -> QuotaExceeded:
    return QuotaExceeded(user_id=user_id, quota="tokens/day", limit=1000, used=1200)


def restored(user_id: str = "alice") -> QuotaRestored:
    return QuotaRestored(user_id=user_id, quota="tokens/day", limit=1000, used=0, reason="period_rolled")


async def test_a_user_over_quota_is_refused_without_publishing(world: World) -> None:
    services.record_quota(exceeded().to_json(), **ANYONE, blocked=world.blocked)
    services.record_quota(
        exceeded("bob").to_json(), **ANYONE, blocked=world.blocked
    )  # re-announced: idempotent
    services.record_quota(exceeded("bob").to_json(), **ANYONE, blocked=world.blocked)
    with pytest.raises(GatewayError) as refused:
        await world.submit(request_id="over")
    assert (refused.value.code, refused.value.request_id) == (ErrorCode.QUOTA_EXCEEDED, "over")
    assert type(refused.value) is GatewayError  # a plain refusal: the socket stays open
    assert world.publisher.prompts == []
    # Refused before the limits: the refusal spends neither a rate slot nor a generation slot.
    assert (world.generations.active("alice"), world.rate.used("alice")) == (0, 0)
    services.record_quota(restored().to_json(), **ANYONE, blocked=world.blocked)
    await world.submit()
    assert len(world.publisher.prompts) == 1
    assert "bob" in world.blocked
    assert "alice" not in world.blocked


async def test_a_block_lapses_unless_re_announced(world: World, clock: FakeClock) -> None:
    services.record_quota(exceeded().to_json(), **ANYONE, blocked=world.blocked)
    clock.advance(250)
    services.record_quota(
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
        services.record_quota(orjson.dumps(future), **ANYONE, blocked=blocked)
        services.record_quota(b"not json", **ANYONE, blocked=blocked)
        services.record_quota(restored("nobody").to_json(), **ANYONE, blocked=blocked)
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
    services.record_outcome(event.to_json(), **ANYONE, latency=latency, generations=world.generations)
    assert world.generations.active("alice") == 1
    assert latency.summary()["all"]["ttft_ms"]["count"] == (1 if outcome == "finished" else 0)
    await world.submit()


async def test_prompts_of_every_gateway_count_once_from_their_headers(world: World) -> None:
    accepted = await world.submit()
    [mine] = world.publisher.prompts
    # Every gateway's queue gets every accepted prompt, this one's own too: counted once.
    own = prompt_headers(mine.model, user_id=mine.user_id, message_id=mine.message_id)
    services.record_prompt(own, **ANYONE, rate=world.rate, generations=world.generations)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (1, 1)
    elsewhere = uuid4()
    theirs = prompt_headers("tiny", user_id="alice", message_id=elsewhere)
    services.record_prompt(theirs, **ANYONE, rate=world.rate, generations=world.generations)
    services.record_prompt(theirs, **ANYONE, rate=world.rate, generations=world.generations)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)
    with pytest.raises(GatewayError) as refused:
        await world.submit()
    assert refused.value.code == ErrorCode.TOO_MANY_GENERATIONS
    # History's title requests and prompts without the headers count for nobody.
    services.record_prompt(prompt_headers("tiny"), **ANYONE, rate=world.rate, generations=world.generations)
    services.record_prompt({}, **ANYONE, rate=world.rate, generations=world.generations)
    assert (world.generations.active("alice"), world.rate.used("alice")) == (2, 2)
    # The other gateway's generation ends: its slot is free here too; the rate still counts it.
    outcome = CompletionCancelled(
        user_id="alice", conversation_id=uuid4(), message_id=elsewhere, text="", model="tiny"
    )
    services.record_outcome(
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
            services.record_quota(exceeded().to_json(), sender=impostor, senders=SENDERS, blocked=blocked)
    assert len(blocked) == 0
    assert (
        "dropping a forged quota event: 'quota.exceeded' sent by broker user 'parley-history'" in caplog.text
    )
    services.record_quota(exceeded().to_json(), sender="parley-auth", senders=SENDERS, blocked=blocked)
    assert "alice" in blocked
    services.record_quota(restored().to_json(), sender="parley-history", senders=SENDERS, blocked=blocked)
    assert "alice" in blocked
    services.record_quota(restored().to_json(), sender="parley-auth", senders=SENDERS, blocked=blocked)
    assert "alice" not in blocked


def test_with_one_broker_user_for_all_any_sender_counts(clock: FakeClock) -> None:
    blocked = BlockedUsers(clock=clock, ttl_s=300)
    services.record_quota(exceeded().to_json(), sender="parley-history", senders=UNCHECKED, blocked=blocked)
    services.record_quota(exceeded("bob").to_json(), **ANYONE, blocked=blocked)
    assert ("alice" in blocked, "bob" in blocked) == (True, True)


def test_heartbeats_count_from_inference_only(clock: FakeClock) -> None:
    registry = WorkerRegistry(clock=clock)
    beat = WorkerHeartbeat(worker_id="w9", models=("tiny",), capacity=4, free_slots=4, interval_s=2.0)
    services.record_heartbeat(beat.to_json(), sender="parley-auth", senders=SENDERS, registry=registry)
    assert registry.live() == []
    services.record_heartbeat(beat.to_json(), sender="parley-inference", senders=SENDERS, registry=registry)
    assert [w.worker_id for w in registry.live()] == ["w9"]


def test_control_commands_count_from_gateways_only() -> None:
    command = RequestSnapshot(request_id=uuid4(), session_id=uuid4(), reply_to="session.x")
    assert services.decode_control(command.to_json(), sender="parley-inference", senders=SENDERS) is None
    assert services.decode_control(command.to_json(), sender="parley-gateway", senders=SENDERS) == command


async def test_forged_prompts_and_outcomes_neither_take_nor_free_a_slot(world: World) -> None:
    accepted = await world.submit()
    forged_prompt = prompt_headers("tiny", user_id="alice", message_id=uuid4())
    services.record_prompt(
        forged_prompt,
        sender="parley-inference",
        senders=SENDERS,
        rate=world.rate,
        generations=world.generations,
    )
    assert (world.generations.active("alice"), world.rate.used("alice")) == (1, 1)
    services.record_prompt(
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
    services.record_outcome(
        outcome.to_json(),
        sender="parley-gateway",
        senders=SENDERS,
        latency=latency,
        generations=world.generations,
    )
    assert world.generations.active("alice") == 2
    services.record_outcome(
        outcome.to_json(),
        sender="parley-inference",
        senders=SENDERS,
        latency=latency,
        generations=world.generations,
    )
    assert world.generations.active("alice") == 1
