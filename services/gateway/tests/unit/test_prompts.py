"""Use cases of a prompt: admission, publishing, stopping; and the snapshot requests of a resume."""

from __future__ import annotations

import logging
from uuid import uuid4

import pytest

from parley_contracts import CancelGeneration, ChatMessage, RequestSnapshot
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import ErrorCode, GatewayError
from parley_gateway.domain.frames import Prompt
from parley_gateway.domain.limits import GenerationLimiter, PromptRateLimiter
from parley_gateway.domain.quota import BlockedUsers
from parley_gateway.domain.registry import WorkerRegistry
from parley_gateway.domain.sessions import new_owned_id, owns
from parley_gateway.services import prompts, snapshots
from tests.fakes import FakeClock, FakePublisher

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

    async def submit(self, model: str = "tiny", **prompt: object) -> prompts.Accepted:
        frame = Prompt.model_validate(
            {
                "type": "prompt",
                "request_id": "r1",
                "model": model,
                "messages": [{"role": "user", "content": "hi"}],
                **prompt,
            }
        )
        return await prompts.submit_prompt(
            prompts.SubmitPrompt(ALICE, self.session_id, frame),
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
    await prompts.stop_generation(ALICE, message_id, running=True, publisher=publisher)
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
        await prompts.stop_generation(ALICE, message_id, running=False, publisher=publisher)
    assert (caught.value.code, caught.value.message_id) == (ErrorCode.UNKNOWN_MESSAGE, message_id)
    assert publisher.control == []
    publisher.down = True
    with pytest.raises(GatewayError) as caught:
        await prompts.stop_generation(ALICE, message_id, running=True, publisher=publisher)
    assert caught.value.code == ErrorCode.BROKER_UNAVAILABLE


async def test_snapshot_requests_expect_the_workers_that_may_hold_generations(world: World) -> None:
    world.registry.observe("w2", models=("tiny",), capacity=1, free_slots=1, interval_s=1.0, stopping=True)
    request_id = uuid4()
    hold = await snapshots.request_snapshots(
        world.session_id, publisher=world.publisher, registry=world.registry, request_id=request_id
    )
    assert hold.expected == {"w1"}
    [command] = world.publisher.control
    assert isinstance(command, RequestSnapshot)
    assert (command.request_id, command.session_id) == (request_id, world.session_id)
    assert command.reply_to == f"session.{world.session_id}"
    world.publisher.down = True  # a failed request still holds, until the deadline
    hold = await snapshots.request_snapshots(
        world.session_id, publisher=world.publisher, registry=world.registry
    )
    assert not hold.complete
