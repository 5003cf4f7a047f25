"""The generate use case with fakes that record what was published."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from parley_contracts import (
    CancelGeneration,
    ChatMessage,
    CompletionCancelled,
    CompletionFailed,
    CompletionFinished,
    GenerationParams,
    PromptSubmitted,
    RequestSnapshot,
    StreamEvent,
    StreamFailed,
    StreamFinished,
    StreamRestarted,
    StreamSnapshots,
    TokenDelta,
    new_id,
)
from parley_inference.domain.coalescer import WindowPolicy
from parley_inference.domain.errors import ErrorCode, GenerationError
from parley_inference.domain.generation import Generation
from parley_inference.domain.sse import TokenCounts
from parley_inference.generations import Running
from parley_inference.outcomes import DEAD_LETTER_MESSAGE, fail_dead_request
from parley_inference.services import (
    Generate,
    Outcome,
    abort_generations,
    answer_snapshot,
    cancel_generation,
    generate,
)
from tests.fakes import FakeStreamSink, Reply, make_ports
from tests.waiting import eventually


def prompt(model: str = "test", *, session_id: UUID | None = None, user: str = "user-1") -> PromptSubmitted:
    session_id = session_id or new_id()
    return PromptSubmitted(
        user_id=user,
        session_id=session_id,
        request_id="r1",
        conversation_id=new_id(),
        message_id=new_id(),
        prompt_message_id=new_id(),
        model=model,
        messages=(ChatMessage(role="user", content="Say hello to the world"),),
        params=GenerationParams(max_tokens=50),
        reply_to=f"session.{session_id}",
    )


def deltas(sink: FakeStreamSink) -> list[TokenDelta]:
    return [e for e in sink.events() if isinstance(e, TokenDelta)]


async def until(predicate: Callable[[], bool]) -> None:
    await eventually(predicate, within_s=2.0, every_s=0.002)


async def test_happy_path_publishes_deltas_then_the_final_frame_then_the_outcome() -> None:
    tokens = ["Hello", ",", " world", "!"]
    ports, model, sink, events = make_ports(Reply(tokens=tokens, usage=TokenCounts(9, 4)))
    req = prompt()

    outcome = await generate(Generate(req), ports=ports)

    assert outcome is Outcome.FINISHED
    assert all(s.reply_to == req.reply_to for s in sink.sent)
    got = deltas(sink)
    assert "".join(d.text for d in got) == "Hello, world!"
    assert got[0].text == "Hello"  # the first token goes out at once
    final = sink.sent[-1]
    assert final.last
    assert isinstance(final.event, StreamFinished)
    assert final.event.text == "Hello, world!"
    assert final.event.finish_reason == "stop"
    assert (final.event.usage.prompt_tokens, final.event.usage.completion_tokens) == (9, 4)
    assert [e.seq for e in sink.stream_events()] == list(range(1, len(sink.sent) + 1))
    assert {e.attempt for e in sink.stream_events()} == {0}
    (done,) = events.published
    assert isinstance(done, CompletionFinished)
    assert done.text == "Hello, world!"
    assert done.worker_id == "worker-test"
    assert done.message_id == req.message_id
    assert done.conversation_id == req.conversation_id
    assert done.user_id == "user-1"
    assert done.usage.completion_tokens == 4
    assert done.ttft_ms is not None
    assert done.ttft_ms >= 0
    assert model.calls[0].model == "test"
    assert model.calls[0].closed
    assert len(ports.active) == 0


async def test_a_fast_stream_is_coalesced_into_fewer_deltas() -> None:
    tokens = [f"t{i} " for i in range(40)]
    ports, _, sink, events = make_ports(Reply(tokens=tokens, delay_s=0.004), window_s=0.03)

    assert await generate(Generate(prompt()), ports=ports) is Outcome.FINISHED

    got = deltas(sink)
    assert "".join(d.text for d in got) == "".join(tokens)
    assert 2 <= len(got) < len(tokens) / 2
    finished = events.published[0]
    assert isinstance(finished, CompletionFinished)
    assert finished.tokens_per_s is not None
    assert finished.tokens_per_s > 0


async def test_a_busy_worker_coalesces_over_a_wider_window() -> None:
    tokens = [f"t{i} " for i in range(60)]

    async def count_deltas(running: int) -> int:
        ports, _, sink, _ = make_ports(Reply(tokens=tokens, delay_s=0.004))
        ports.coalesce = WindowPolicy(base_s=0.02, most_s=0.08, busy_at=1)

        async def others_start() -> None:  # the load comes while the answer streams
            await asyncio.sleep(0.02)
            for other in range(running - 1):
                ports.active.add(Running(Generation(uuid4(), uuid4(), f"other-{other}", "s", attempt=0)))

        joining = asyncio.create_task(others_start())
        assert await generate(Generate(prompt()), ports=ports) is Outcome.FINISHED
        await joining
        got = deltas(sink)
        assert "".join(d.text for d in got) == "".join(tokens)
        return len(got)

    quiet, busy = await count_deltas(1), await count_deltas(4)
    assert busy < quiet / 2


async def test_held_text_goes_out_at_the_deadline_not_with_the_next_token() -> None:
    # a, then b 5 ms later, then nothing for 300 ms: b must not wait for c
    ports, model, sink, _ = make_ports(Reply(tokens=["a", "b", "c"], delays=[0, 0.005, 0.3]), window_s=0.05)

    await generate(Generate(prompt()), ports=ports)

    sent = {d.text: s.at for s, d in ((s, s.event) for s in sink.sent) if isinstance(d, TokenDelta)}
    arrived = dict(zip(["a", "b", "c"], model.calls[0].yielded_at, strict=True))
    assert set(sent) == {"a", "b", "c"}
    assert sent["a"] - arrived["a"] < 0.01
    assert 0.03 <= sent["b"] - arrived["b"] < 0.1
    assert sent["c"] - arrived["c"] < 0.01


async def test_without_provider_usage_tokens_are_counted_and_the_prompt_estimated() -> None:
    ports, _, sink, _ = make_ports(Reply(tokens=["a", "b", "c"], usage=None))

    await generate(Generate(prompt()), ports=ports)

    final = sink.events("stream.finished")[0]
    assert isinstance(final, StreamFinished)
    assert final.usage.completion_tokens == 3
    assert final.usage.prompt_tokens > 0
    assert final.usage.source == "counted"


async def test_provider_usage_is_marked_as_such() -> None:
    ports, _, sink, events = make_ports(
        Reply(tokens=["a"], usage=TokenCounts(prompt_tokens=7, completion_tokens=1))
    )
    await generate(Generate(prompt()), ports=ports)
    final = sink.events("stream.finished")[0]
    assert isinstance(final, StreamFinished)
    assert (final.usage.prompt_tokens, final.usage.source) == (7, "provider")
    finished = events.published[0]
    assert isinstance(finished, CompletionFinished)
    assert finished.usage.source == "provider"


async def test_a_stream_that_ends_without_a_finish_reason_was_cut_off() -> None:
    ports, _, sink, events = make_ports(Reply(tokens=["a", "b"], finish_reason=None))

    assert await generate(Generate(prompt()), ports=ports) is Outcome.FAILED

    failed = sink.sent[-1].event
    assert isinstance(failed, StreamFailed)
    assert failed.code == "provider_cut_off"
    assert not sink.events("stream.finished")
    event = events.published[0]
    assert isinstance(event, CompletionFailed)
    assert event.code == "provider_cut_off"


async def test_length_finish_reason_is_kept() -> None:
    ports, _, sink, _ = make_ports(Reply(tokens=["a"], finish_reason="length"))
    await generate(Generate(prompt()), ports=ports)
    final = sink.events("stream.finished")[0]
    assert isinstance(final, StreamFinished)
    assert final.finish_reason == "length"


async def test_a_redelivered_request_starts_with_stream_restarted() -> None:
    ports, _, sink, _ = make_ports(Reply(tokens=["x", "y"]))

    await generate(Generate(prompt(), attempt=2), ports=ports)

    first = sink.sent[0].event
    assert isinstance(first, StreamRestarted)
    assert (first.seq, first.attempt) == (1, 2)
    assert [e.seq for e in sink.stream_events()] == list(range(1, len(sink.sent) + 1))
    assert {e.attempt for e in sink.stream_events()} == {2}


async def test_an_unknown_model_fails_with_model_not_found_and_never_calls_a_provider() -> None:
    ports, model, sink, events = make_ports()

    outcome = await generate(Generate(prompt("nope")), ports=ports)

    assert outcome is Outcome.FAILED
    assert model.calls == []
    (failed,) = sink.events()
    assert isinstance(failed, StreamFailed)
    assert failed.code == "model_not_found"
    assert "'nope'" in failed.message
    (event,) = events.published
    assert isinstance(event, CompletionFailed)
    assert (event.code, event.message) == ("model_not_found", failed.message)


async def test_a_provider_error_mid_stream_ends_with_what_was_sent_and_a_failure() -> None:
    error = GenerationError(ErrorCode.PROVIDER_ERROR, "The model provider failed (HTTP 500): x")
    ports, _, sink, events = make_ports(Reply(tokens=["a", "b", "c"], fail_after=2, error=error))

    assert await generate(Generate(prompt()), ports=ports) is Outcome.FAILED

    assert "".join(d.text for d in deltas(sink)) == "ab"
    failed = sink.sent[-1].event
    assert isinstance(failed, StreamFailed)
    assert failed.code == "provider_error"
    assert failed.seq == len(sink.sent)
    event = events.published[0]
    assert isinstance(event, CompletionFailed)
    assert event.code == "provider_error"


async def test_an_unexpected_exception_is_generation_failed_without_internals() -> None:
    ports, _, sink, events = make_ports(Reply(fail_after=1, error=KeyError("internal detail")))

    assert await generate(Generate(prompt()), ports=ports) is Outcome.FAILED

    failed = sink.sent[-1].event
    assert isinstance(failed, StreamFailed)
    assert failed.code == "generation_failed"
    assert "internal detail" not in failed.message
    assert events.published[0].type == "completion.failed"


async def test_cancel_closes_the_stream_and_ends_with_the_text_so_far() -> None:
    tokens = [f"w{i} " for i in range(100)]
    ports, model, sink, events = make_ports(Reply(tokens=tokens, delay_s=0.01), window_s=0.0)
    req = prompt()
    task = asyncio.create_task(generate(Generate(req), ports=ports))
    await until(lambda: len(deltas(sink)) >= 3)

    foreign = CancelGeneration(message_id=req.message_id, user_id="someone-else")
    assert cancel_generation(foreign, ports=ports) is False
    assert cancel_generation(CancelGeneration(message_id=req.message_id, user_id="user-1"), ports=ports)

    assert await asyncio.wait_for(task, 1.0) is Outcome.CANCELLED
    assert model.calls[0].closed
    assert not model.calls[0].completed
    final = sink.sent[-1].event
    assert isinstance(final, StreamFinished)
    assert final.finish_reason == "cancelled"
    assert final.text == "".join(d.text for d in deltas(sink))
    assert 3 <= len(final.text.split()) < 100
    (event,) = events.published
    assert isinstance(event, CompletionCancelled)
    assert event.text == final.text
    assert (
        cancel_generation(CancelGeneration(message_id=req.message_id, user_id="user-1"), ports=ports) is False
    )


async def test_snapshot_lists_what_was_published_for_that_session_only() -> None:
    ports, _, sink, _ = make_ports(Reply(tokens=[f"s{i} " for i in range(50)], delay_s=0.01), window_s=0.0)
    req = prompt()
    task = asyncio.create_task(generate(Generate(req, attempt=1), ports=ports))
    await until(lambda: len(deltas(sink)) >= 3)

    request_id = new_id()
    count = answer_snapshot(
        RequestSnapshot(request_id=request_id, session_id=req.session_id, reply_to="session.x"), ports=ports
    )
    other = answer_snapshot(
        RequestSnapshot(request_id=new_id(), session_id=new_id(), reply_to="session.y"), ports=ports
    )
    cancel_generation(CancelGeneration(message_id=req.message_id, user_id="user-1"), ports=ports)
    await task

    assert (count, other) == (1, 0)
    index = next(i for i, s in enumerate(sink.sent) if isinstance(s.event, StreamSnapshots))
    snap = sink.sent[index]
    assert snap.reply_to == "session.x"
    assert isinstance(snap.event, StreamSnapshots)
    assert snap.event.request_id == request_id
    assert snap.event.worker_id == "worker-test"
    (item,) = snap.event.items
    before = [s.event for s in sink.sent[:index] if isinstance(s.event, StreamEvent)]
    assert item.message_id == req.message_id
    assert item.attempt == 1
    assert item.seq == before[-1].seq
    assert item.text == "".join(e.text for e in before if isinstance(e, TokenDelta))
    empty = sink.sent[index + 1].event
    assert isinstance(empty, StreamSnapshots)
    assert empty.items == ()


async def test_abort_publishes_nothing_final_so_the_request_can_go_back() -> None:
    ports, model, sink, events = make_ports(Reply(tokens=["a"] * 100, delay_s=0.01))
    task = asyncio.create_task(generate(Generate(prompt()), ports=ports))
    await until(lambda: len(deltas(sink)) >= 1)

    assert abort_generations(ports=ports) == 1

    assert await asyncio.wait_for(task, 1.0) is Outcome.ABORTED
    assert model.calls[0].closed
    assert not any(s.last for s in sink.sent)
    assert events.published == []


async def test_a_duplicate_of_a_held_message_is_not_generated_twice() -> None:
    ports, model, sink, _ = make_ports(Reply(tokens=["a"] * 20, delay_s=0.005))
    req = prompt()
    first = asyncio.create_task(generate(Generate(req), ports=ports))
    await until(lambda: len(model.calls) == 1)

    assert await generate(Generate(req, attempt=1), ports=ports) is Outcome.DUPLICATE
    assert await first is Outcome.FINISHED
    assert len(model.calls) == 1
    assert len(sink.events("stream.finished")) == 1


async def test_a_failing_outcome_publish_propagates_so_the_request_is_not_acked() -> None:
    ports, _, _, events = make_ports()
    events.fail_with = ConnectionError("broker gone")
    with pytest.raises(ConnectionError):
        await generate(Generate(prompt()), ports=ports)
    assert len(ports.active) == 0


async def test_a_dead_lettered_request_ends_as_generation_failed() -> None:
    ports, model, sink, events = make_ports()
    req = prompt()

    await fail_dead_request(req, code=ErrorCode.GENERATION_FAILED, attempt=4, ports=ports)

    (failed,) = sink.sent
    assert failed.reply_to == req.reply_to
    assert failed.last
    assert isinstance(failed.event, StreamFailed)
    assert (failed.event.code, failed.event.message) == ("generation_failed", DEAD_LETTER_MESSAGE)
    (event,) = events.published
    assert isinstance(event, CompletionFailed)
    assert event.code == "generation_failed"
    assert model.calls == []


async def test_a_request_no_model_queue_took_ends_as_model_unavailable() -> None:
    ports, model, sink, events = make_ports()
    req = prompt("retired-model")

    await fail_dead_request(req, code=ErrorCode.MODEL_UNAVAILABLE, attempt=4, ports=ports)

    (failed,) = sink.sent
    assert isinstance(failed.event, StreamFailed)
    assert failed.event.code == "model_unavailable"
    assert "'retired-model'" in failed.event.message
    (event,) = events.published
    assert isinstance(event, CompletionFailed)
    assert (event.code, event.message) == ("model_unavailable", failed.event.message)
    assert model.calls == []


async def test_a_prompt_cancelled_before_it_arrives_ends_at_once_without_the_provider() -> None:
    ports, model, sink, events = make_ports(Reply(tokens=["never"]))
    req, other = prompt(), prompt()
    for message_id, user in ((req.message_id, "user-1"), (other.message_id, "mallory")):
        assert not cancel_generation(CancelGeneration(message_id=message_id, user_id=user), ports=ports)

    assert await generate(Generate(req), ports=ports) is Outcome.CANCELLED
    assert model.calls == []
    (final,) = [s.event for s in sink.sent]
    assert isinstance(final, StreamFinished)
    assert (final.finish_reason, final.text) == ("cancelled", "")
    (event,) = events.published
    assert isinstance(event, CompletionCancelled)
    assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (0, 0)
    # Someone else's cancel withdraws nothing, and a withdrawal is used once.
    assert await generate(Generate(other), ports=ports) is Outcome.FINISHED
    assert await generate(Generate(req, attempt=1), ports=ports) is Outcome.FINISHED
