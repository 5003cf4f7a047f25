"""Happy paths on the real broker, through the real SDK, against the fake provider."""

from __future__ import annotations

import asyncio
import urllib.request

from parley_contracts import CompletionFinished, StreamFinished, WorkerHeartbeat
from parley_testkit import FakeProvider, Script, free_port
from tests.integration.client import TEST_REQUESTS, BrokerClient, make_prompt
from tests.integration.conftest import PROVIDER_KEY
from tests.integration.workers import StartWorker


async def test_a_prompt_streams_coalesced_deltas_then_the_whole_answer(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    tokens = [f"tok{i} " for i in range(40)]
    provider.set_script(Script(tokens=tokens, delay_s=0.005))
    worker = await start_worker()
    session = await client.session()
    events = await client.domain_events()
    prompt = make_prompt(session, content="one two three four")

    await client.submit(prompt)
    end = await session.end(prompt.message_id)

    assert isinstance(end, StreamFinished)
    deltas = session.deltas(prompt.message_id)
    text = "".join(tokens)
    assert "".join(d.text for d in deltas) == text
    assert end.text == text
    assert deltas[0].text == "tok0 "  # the first token is not held
    assert len(deltas) < len(tokens) / 2  # coalesced
    stream = session.for_message(prompt.message_id)
    assert [e.seq for e in stream] == list(range(1, len(stream) + 1))
    assert end.finish_reason == "stop"
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (4, 40)  # the provider's usage
    assert end.metrics.ttft_ms is not None
    assert end.metrics.tokens_per_s is not None

    done = await events.first(lambda e: isinstance(e, CompletionFinished))
    assert isinstance(done, CompletionFinished)
    assert done.message_id == prompt.message_id
    assert done.text == text
    assert done.worker_id == worker.worker_id
    assert done.usage == end.usage
    assert done.ttft_ms is not None
    assert done.ttft_ms > 0
    assert done.tokens_per_s is not None
    assert done.tokens_per_s > 0

    (request,) = provider.requests
    assert request.body["model"] == "upstream-test-model"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 200
    assert request.body["temperature"] == 0.5
    assert request.body["repeat_penalty"] == 1.1
    assert request.headers["authorization"] == f"Bearer {PROVIDER_KEY}"

    # acked: once the worker is gone (its channel closed), nothing comes back to the queue
    await worker.stop()
    assert await client.take_all(TEST_REQUESTS.name, within_s=0.5) == []


async def test_without_usage_from_the_provider_tokens_are_counted(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=["a", "b", "c"], include_usage=False))
    await start_worker()
    session = await client.session()
    prompt = make_prompt(session)

    await client.submit(prompt)
    end = await session.end(prompt.message_id)

    assert isinstance(end, StreamFinished)
    assert end.text == "abc"
    assert end.usage.completion_tokens == 3
    assert end.usage.prompt_tokens > 0


async def test_the_token_limit_ends_with_finish_reason_length(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=["x"] * 400))
    await start_worker()
    session = await client.session()
    prompt = make_prompt(session)  # asks for 200 tokens

    await client.submit(prompt)
    end = await session.end(prompt.message_id)

    assert isinstance(end, StreamFinished)
    assert end.finish_reason == "length"
    assert end.text == "x" * 200


async def test_two_workers_share_a_burst_of_prompts(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=["a", "b", "c", "d"], delay_s=0.05))
    first = await start_worker(concurrency=2)
    second = await start_worker(concurrency=2)
    events = await client.domain_events()
    session = await client.session()
    prompts = [make_prompt(session) for _ in range(8)]

    await asyncio.gather(*(client.submit(p) for p in prompts))
    ends = [await session.end(p.message_id) for p in prompts]

    assert all(isinstance(e, StreamFinished) and e.text == "abcd" for e in ends)
    finished = await events.wait_for(lambda items: len(items) >= 8)
    by_worker = {e.worker_id for e in finished if isinstance(e, CompletionFinished)}
    assert by_worker == {first.worker_id, second.worker_id}


async def test_heartbeats_announce_models_and_slots_and_the_stop(
    start_worker: StartWorker, client: BrokerClient
) -> None:
    beats = await client.heartbeats()
    worker = await start_worker(concurrency=3)

    first = await beats.first(lambda e: getattr(e, "worker_id", None) == worker.worker_id)
    await beats.wait_for(lambda items: len(items) >= 2, timeout=3)  # interval 0.5 s
    await worker.stop()
    last = await beats.first(lambda e: getattr(e, "stopping", False))

    assert isinstance(first, WorkerHeartbeat)
    assert isinstance(last, WorkerHeartbeat)
    assert first.models == ("test", "refused")
    assert first.capacity == 3 * 2  # per model, two models
    assert first.free_slots == 3 * 2
    assert first.interval_s == 0.5
    assert last.worker_id == worker.worker_id
    assert last.free_slots == 0


async def test_metrics_are_served_when_a_port_is_set(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=["a", "b", "c"], delay_s=0.01))
    port = free_port()
    await start_worker(metrics_port=port)
    session = await client.session()
    prompt = make_prompt(session)
    await client.submit(prompt)
    await session.end(prompt.message_id)
    failing = make_prompt(session, model="refused")
    await client.submit(failing)
    await session.end(failing.message_id)

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    # the end frame goes out before the worker's bookkeeping ends: look until it has
    samples = await asyncio.to_thread(scrape)
    async with asyncio.timeout(5):
        while samples["parley_inference_generations_in_flight"] != 0:
            await asyncio.sleep(0.05)
            samples = await asyncio.to_thread(scrape)
    assert samples['parley_inference_generations_total{outcome="finished"}'] == 1
    assert samples['parley_inference_generations_total{outcome="failed"}'] == 1
    assert samples['parley_inference_provider_errors_total{code="provider_unreachable"}'] == 1
    assert samples["parley_inference_deltas_published_total"] >= 2
    assert samples['parley_inference_completion_tokens_total{model="test"}'] == 3
    assert samples["parley_inference_inter_token_seconds_count"] == 2  # three chunks, two gaps
    assert samples["parley_inference_time_to_first_token_seconds_count"] == 1
    assert samples["parley_inference_tokens_per_second_count"] == 1
