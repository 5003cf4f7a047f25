"""Requests outlive their workers: redelivery after a crash, dead-lettering
after repeated failure, draining on SIGTERM."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from parley_contracts import (
    CompletionFailed,
    CompletionFinished,
    StreamFailed,
    StreamFinished,
    StreamRestarted,
)
from parley_contracts.topology import INFERENCE_DELIVERY_LIMIT
from parley_inference.entrypoints.requests import delivery_count
from parley_inference.outcomes import DEAD_LETTER_MESSAGE
from parley_testkit import FakeProvider, Script, ServiceProcess
from tests.integration.client import TEST_REQUESTS, BrokerClient, make_prompt
from tests.integration.workers import StartWorker
from tests.waiting import eventually

SpawnWorker = Callable[..., ServiceProcess]
READY = "serving models"


async def _wait_ready(process: ServiceProcess) -> None:
    await asyncio.to_thread(process.wait_log, READY, 20)


def in_turn(*scripts: Script) -> Callable[[dict[str, Any]], Script]:
    """The provider's n-th request gets the n-th script (the last one after that)."""
    served = itertools.count()

    def script(_body: dict[str, Any]) -> Script:
        return scripts[min(next(served), len(scripts) - 1)]

    return script


async def test_a_worker_killed_mid_stream_hands_the_request_to_another(
    spawn_worker: SpawnWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    tokens = [f"k{i} " for i in range(100)]
    # slow for the worker that gets killed (it must still be streaming), fast for the next
    provider.script = in_turn(Script(tokens=tokens, delay_s=0.1), Script(tokens=tokens, delay_s=0.002))
    first = spawn_worker("worker-a")
    await _wait_ready(first)
    session = await client.session()
    events = await client.domain_events()
    prompt = make_prompt(session)
    await client.submit(prompt)
    await session.wait_for(lambda items: len(items) >= 3)
    second = spawn_worker("worker-b")
    await _wait_ready(second)

    assert not any(isinstance(e, StreamFinished) for e in session.items)
    killed_at = time.monotonic()
    first.kill()
    end = await session.end(prompt.message_id, timeout=15)

    assert time.monotonic() - killed_at < 15
    assert isinstance(end, StreamFinished)
    assert end.text == "".join(tokens)
    stream = session.for_message(prompt.message_id)
    restart = next(i for i, e in enumerate(stream) if isinstance(e, StreamRestarted))
    assert all(e.attempt == 0 for e in stream[:restart])
    assert len(session.deltas(prompt.message_id, attempt=0)) > 0
    assert restart > 0
    retried = stream[restart:]
    assert retried[0].attempt == 1
    assert retried[0].seq == 1
    assert [e.seq for e in retried] == list(range(1, len(retried) + 1))
    assert "".join(d.text for d in session.deltas(prompt.message_id, attempt=1)) == end.text
    done = await events.first(lambda e: isinstance(e, CompletionFinished))
    assert isinstance(done, CompletionFinished)
    assert done.worker_id == "worker-b"
    assert len(provider.requests) == 2
    assert provider.requests[0].disconnected_at is not None


async def test_a_request_that_keeps_failing_is_dead_lettered_and_ends_as_generation_failed(
    start_worker: StartWorker, client: BrokerClient
) -> None:
    session = await client.session()
    events = await client.domain_events("completion.failed")
    prompt = make_prompt(session)
    await client.submit(prompt)

    # a consumer that always fails stands in for workers dying on this request
    deliveries: list[int] = []
    channel = await client.connection.channel()
    queue = await channel.get_queue(TEST_REQUESTS.name)

    async def fail(message: AbstractIncomingMessage) -> None:
        deliveries.append(delivery_count(message.headers))
        await message.nack(requeue=True)

    tag = await queue.consume(fail)
    await eventually(lambda: len(deliveries) > INFERENCE_DELIVERY_LIMIT, within_s=10)
    await asyncio.sleep(0.3)  # no further delivery: it left the queue
    await queue.cancel(tag)
    await channel.close()
    assert deliveries == list(range(INFERENCE_DELIVERY_LIMIT + 1))

    await start_worker()
    end = await session.end(prompt.message_id, timeout=5)

    assert isinstance(end, StreamFailed)
    assert end.code == "generation_failed"
    assert end.message == DEAD_LETTER_MESSAGE
    event = await events.first(lambda e: getattr(e, "message_id", None) == prompt.message_id)
    assert isinstance(event, CompletionFailed)
    assert event.code == "generation_failed"
    assert session.deltas(prompt.message_id) == []  # no worker generated it again


async def test_sigterm_finishes_what_is_running_takes_nothing_new_and_exits_0(
    spawn_worker: SpawnWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    tokens = [f"d{i} " for i in range(40)]
    provider.set_script(Script(tokens=tokens, delay_s=0.075))
    worker = spawn_worker("worker-drain")
    await _wait_ready(worker)
    session = await client.session()
    running = make_prompt(session)
    await client.submit(running)
    await session.wait_for(lambda items: len(items) >= 2)

    worker.send_signal(signal.SIGTERM)
    await asyncio.to_thread(worker.wait_log, "stopping", 5)
    assert not any(isinstance(e, StreamFinished) for e in session.items)  # still running
    late = make_prompt(session)
    await client.submit(late)
    code = await asyncio.to_thread(worker.wait, 10)

    assert code == 0
    end = await session.end(running.message_id, timeout=1)
    assert isinstance(end, StreamFinished)
    assert end.text == "".join(tokens)
    assert session.for_message(late.message_id) == []
    assert len(provider.requests) == 1
    # left for another worker, never delivered to the stopping one
    (left,) = await client.take_all(TEST_REQUESTS.name, expect=1)
    assert left.prompt().message_id == late.message_id
    assert left.delivery_count == 0


async def test_sigterm_requeues_what_outlives_the_grace_period(
    spawn_worker: SpawnWorker, start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    tokens = [f"g{i} " for i in range(60)]
    provider.set_script(Script(tokens=tokens, delay_s=0.05))
    worker = spawn_worker("worker-grace", PARLEY_INFERENCE_SHUTDOWN_GRACE_S="0.5")
    await _wait_ready(worker)
    session = await client.session()
    prompt = make_prompt(session)
    await client.submit(prompt)
    await session.wait_for(lambda items: len(items) >= 2)

    stopped_at = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.wait, 10)

    assert code == 0
    assert time.monotonic() - stopped_at < 5
    assert "1 generation(s) requeued" in worker.log_text()
    assert not any(isinstance(e, StreamFinished | StreamFailed) for e in session.items)
    assert provider.requests[0].disconnected_at is not None

    # the requeued request is another worker's now, as a new attempt
    provider.set_script(Script(tokens=tokens))
    await start_worker()
    end = await session.end(prompt.message_id, timeout=5)
    assert isinstance(end, StreamFinished)
    assert end.text == "".join(tokens)
    assert end.attempt == 1
    assert any(isinstance(e, StreamRestarted) for e in session.for_message(prompt.message_id))
