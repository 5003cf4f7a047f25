"""Per-model concurrency: a worker never sends a model more than its limit,
and prompts beyond it wait in the model's queue in RabbitMQ."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley_contracts import (
    CompletionFailed,
    CompletionFinished,
    StreamFailed,
    StreamFinished,
    WorkerHeartbeat,
)
from parley_testkit import FakeProvider, Script
from tests.integration.client import BrokerClient, make_prompt
from tests.integration.workers import StartWorker, served_by, write_models_file
from tests.waiting import eventually

SLOW = Script(tokens=[f"t{i} " for i in range(8)], delay_s=0.1)
"""About 0.8 s per answer: long enough to see what runs at once."""


@pytest.fixture
def models_file(tmp_path: Path, provider: FakeProvider) -> Path:
    """`test` takes one prompt at a time per worker, `wide` three, `other` the default (2)."""
    return write_models_file(
        tmp_path,
        served_by(provider, "test", concurrency=1),
        served_by(provider, "wide", concurrency=3),
        served_by(provider, "other"),
    )


async def test_each_model_gets_at_most_its_limit_and_the_lanes_are_independent(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(SLOW)
    worker = await start_worker(concurrency=2)
    session = await client.session()
    events = await client.domain_events("completion.finished")
    prompts = [make_prompt(session, model="test") for _ in range(3)]
    prompts += [make_prompt(session, model="wide") for _ in range(3)]

    for prompt in prompts:
        await client.submit(prompt)
    for prompt in prompts:
        assert isinstance(await session.end(prompt.message_id, timeout=15), StreamFinished)

    # `wide` ran its three together beside one of `test`; `test` never had two
    assert provider.peak_open_requests == 4
    requests = provider.requests
    assert all(r.completed for r in requests)
    test_runs = [r for r in requests if r.body["model"] == "upstream-test-model"]
    wide_runs = [r for r in requests if r.body["model"] == "upstream-wide-model"]
    assert len(test_runs) == len(wide_runs) == 3
    assert not any(a.overlaps(b) for i, a in enumerate(test_runs) for b in test_runs[i + 1 :])
    assert all(a.overlaps(b) for i, a in enumerate(wide_runs) for b in wide_runs[i + 1 :])
    await events.wait_for(lambda items: len(items) == 6)
    assert {e.worker_id for e in events.items if isinstance(e, CompletionFinished)} == {worker.worker_id}


async def test_waiting_prompts_stay_in_rabbitmq_for_any_worker_to_take(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(SLOW)
    first = await start_worker()
    session = await client.session()
    events = await client.domain_events("completion.finished")
    prompts = [make_prompt(session, model="test") for _ in range(2)]
    for prompt in prompts:
        await client.submit(prompt)
    await eventually(lambda: len(provider.requests) == 1)

    # Had the first worker taken the second prompt into its memory, the second
    # worker would get nothing: it gets it, while the first is still busy.
    second = await start_worker()
    for prompt in prompts:
        assert isinstance(await session.end(prompt.message_id, timeout=10), StreamFinished)
    await events.wait_for(lambda items: len(items) == 2)
    workers = {e.message_id: e.worker_id for e in events.items if isinstance(e, CompletionFinished)}
    assert workers == {prompts[0].message_id: first.worker_id, prompts[1].message_id: second.worker_id}
    assert provider.peak_open_requests == 2


async def test_heartbeats_announce_the_sum_of_the_model_limits(
    start_worker: StartWorker, client: BrokerClient
) -> None:
    beats = await client.heartbeats()
    worker = await start_worker(concurrency=2)
    await beats.wait_for(lambda items: any(isinstance(b, WorkerHeartbeat) for b in items))
    beat = next(b for b in beats.items if isinstance(b, WorkerHeartbeat) and b.worker_id == worker.worker_id)
    assert beat.capacity == 1 + 3 + 2
    assert set(beat.models) == {"test", "wide", "other"}


async def test_a_prompt_for_a_model_no_worker_serves_any_more_fails_with_a_clear_code(
    start_worker: StartWorker, client: BrokerClient
) -> None:
    await start_worker()
    session = await client.session()
    events = await client.domain_events("completion.failed")
    prompt = make_prompt(session, model="retired")

    await client.submit(prompt)
    end = await session.end(prompt.message_id)

    assert isinstance(end, StreamFailed)
    assert end.code == "model_unavailable"
    assert "retired" in end.message
    failed = await events.first(lambda e: isinstance(e, CompletionFailed))
    assert isinstance(failed, CompletionFailed)
    assert (failed.message_id, failed.code) == (prompt.message_id, "model_unavailable")
