"""chat.control: cancel and snapshot requests reach the worker holding the generation."""

from __future__ import annotations

import time

from parley_contracts import (
    CancelGeneration,
    CompletionCancelled,
    RequestSnapshot,
    StreamFinished,
    StreamSnapshots,
    TokenDelta,
    new_id,
)
from parley_testkit import FakeProvider, Script
from tests.integration.client import BrokerClient, make_prompt
from tests.integration.workers import StartWorker


async def test_cancel_closes_the_provider_stream_within_a_second(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=[f"w{i} " for i in range(200)], delay_s=0.02))
    await start_worker()
    session = await client.session()
    events = await client.domain_events()
    prompt = make_prompt(session, user_id="alice")
    await client.submit(prompt)
    await session.wait_for(lambda items: len(items) >= 3)

    # someone else's cancel is ignored: the stream goes on
    await client.control(CancelGeneration(message_id=prompt.message_id, user_id="mallory"))
    seen = len(session.items)
    await session.wait_for(lambda items: len(items) >= seen + 3)
    assert not any(r.disconnected_at for r in provider.requests)

    cancelled_at = time.monotonic()
    await client.control(CancelGeneration(message_id=prompt.message_id, user_id="alice"))
    end = await session.end(prompt.message_id, timeout=3)

    record = provider.requests[0]
    assert await provider.wait_for_async(lambda: record.disconnected_at is not None, 1.0)
    assert (record.disconnected_at or 0) - cancelled_at < 1.0
    assert isinstance(end, StreamFinished)
    assert end.finish_reason == "cancelled"
    assert end.text == "".join(d.text for d in session.deltas(prompt.message_id))
    assert 0 < len(end.text.split()) < 200
    event = await events.first(lambda e: isinstance(e, CompletionCancelled))
    assert isinstance(event, CompletionCancelled)
    assert (event.message_id, event.text) == (prompt.message_id, end.text)


async def test_a_stop_while_the_prompt_waits_in_its_queue_ends_it_before_the_provider(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=[f"w{i} " for i in range(20)], delay_s=0.05))
    await start_worker(concurrency=1)
    session = await client.session()
    events = await client.domain_events()
    running, waiting = make_prompt(session, user_id="alice"), make_prompt(session, user_id="alice")
    await client.submit(running)
    await client.submit(waiting)
    await session.wait_for(lambda items: len(items) >= 2)  # the first streams; the second waits

    await client.control(CancelGeneration(message_id=waiting.message_id, user_id="alice"))

    end = await session.end(waiting.message_id)
    assert isinstance(end, StreamFinished)
    assert (end.finish_reason, end.text) == ("cancelled", "")
    first = await session.end(running.message_id)
    assert isinstance(first, StreamFinished)
    assert first.finish_reason == "stop"
    assert len(provider.requests) == 1
    event = await events.first(
        lambda e: isinstance(e, CompletionCancelled) and e.message_id == waiting.message_id
    )
    assert isinstance(event, CompletionCancelled)
    assert (event.usage.prompt_tokens, event.usage.completion_tokens) == (0, 0)


async def test_snapshot_request_is_answered_once_in_queue_order(
    start_worker: StartWorker, client: BrokerClient, provider: FakeProvider
) -> None:
    provider.set_script(Script(tokens=[f"s{i} " for i in range(30)], delay_s=0.03))
    worker = await start_worker()
    session = await client.session()
    idle = await client.session()
    prompt = make_prompt(session)
    await client.submit(prompt)
    await session.wait_for(lambda items: len(items) >= 3)

    request_id = new_id()
    await client.control(
        RequestSnapshot(request_id=request_id, session_id=session.session_id, reply_to=session.reply_to)
    )
    await client.control(
        RequestSnapshot(request_id=new_id(), session_id=idle.session_id, reply_to=idle.reply_to)
    )
    end = await session.end(prompt.message_id)
    empty = await idle.first(lambda e: isinstance(e, StreamSnapshots))

    assert isinstance(end, StreamFinished)
    snapshots = [e for e in session.items if isinstance(e, StreamSnapshots)]
    assert len(snapshots) == 1
    snapshot = snapshots[0]
    assert snapshot.request_id == request_id
    assert snapshot.worker_id == worker.worker_id
    (item,) = snapshot.items
    index = session.items.index(snapshot)
    before = [e for e in session.items[:index] if isinstance(e, TokenDelta)]
    after = [e for e in session.items[index + 1 :] if isinstance(e, TokenDelta)]
    assert item.message_id == prompt.message_id
    assert item.attempt == 0
    assert item.seq == before[-1].seq
    assert item.text == "".join(d.text for d in before)
    assert item.text + "".join(d.text for d in after) == end.text
    assert isinstance(empty, StreamSnapshots)
    assert empty.items == ()
