"""Streams that survive a dead worker, a stopped worker, a dropped socket and a page
reload. The worker faults of issue 9 end with the three-way agreement check: what the
clients saw, what history stored and what `audit.events` holds tell one story."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest
import websockets

from parley_testkit import FakeProvider, Script

from .agreement import Seen, check_agreement
from .stack import Client, Frame, Stack, answer_text, postgres_database

SLOW = [f"w{i} " for i in range(40)]
FULL = "".join(SLOW)
LONGER = [f"d{i} " for i in range(80)]
"""8 s per answer: time to start a second worker and stop the first mid-stream."""
DRAIN_STREAMS = 6


@pytest.fixture
def database_url() -> Iterator[str]:
    """History's database; asked for before `stack_factory`, so dropped after the stack stopped."""
    with postgres_database("parley_e2e_failover") as url:
        yield url


def _start_history(stack: Stack, database_url: str) -> None:
    # No title requests: the provider's script is for the answers these tests read.
    stack.start_history(database_url, PARLEY_HISTORY_TITLE_REQUESTS="0")


async def _agree(stack: Stack, token: str, seen: list[Seen]) -> str:
    assert stack.history is not None
    agreement = await check_agreement(
        seen, history_url=stack.history.http, token=token, amqp_url=stack.amqp_url
    )
    return str(agreement)


async def _deltas(client: Client, message_id: str, count: int) -> list[Frame]:
    frames: list[Frame] = []
    while len([f for f in frames if f["type"] == "delta"]) < count:
        frame = await client.recv()
        if frame.get("message_id") == message_id:
            frames.append(frame)
    return frames


async def test_sigkilled_worker_mid_stream_restarts_on_another(
    database_url: str, stack_factory: Stack, provider: FakeProvider
) -> None:
    stack = stack_factory
    provider.set_script(Script(tokens=SLOW, delay_s=0.1))
    _start_history(stack, database_url)
    first = stack.start_worker()
    gateway = stack.start_gateway()
    stack.wait_models(gateway, workers=1)
    token = stack.token("alice")
    client = await Client.connect(gateway, token)
    try:
        accepted = await client.prompt("a slow one")
        message_id = accepted["message_id"]
        before = await _deltas(client, message_id, 2)

        # Killed first, then the other started: the answer is mid-stream when its worker dies
        # however long a worker takes to start on this machine.
        first.kill()
        killed_at = asyncio.get_running_loop().time()
        stack.start_worker()
        after = await client.until(message_id, timeout=15)
        assert asyncio.get_running_loop().time() - killed_at < 15
    finally:
        await client.close()

    frames = before + after
    assert "restart" in [f["type"] for f in after]
    assert after[-1]["type"] == "done", after[-1]
    assert after[-1]["text"] == FULL
    assert answer_text(frames) == FULL
    print(f"\nworker SIGKILLed: {await _agree(stack, token, [Seen(accepted, after[-1])])}")  # noqa: T201


async def _stream_on_first_worker(
    stack: Stack, provider: FakeProvider, database_url: str, *, first_grace_s: float
) -> tuple[list[Client], list[Frame], list[list[Frame]], str]:
    """`DRAIN_STREAMS` answers streaming on one worker, a second worker started:
    the clients, their `accepted` frames, the frames each saw so far, the user's token."""
    provider.set_script(Script(tokens=LONGER, delay_s=0.1))
    _start_history(stack, database_url)
    stack.start_worker(
        PARLEY_INFERENCE_CONCURRENCY=str(DRAIN_STREAMS), PARLEY_INFERENCE_SHUTDOWN_GRACE_S=str(first_grace_s)
    )
    gateway = stack.start_gateway(PARLEY_GATEWAY_MAX_GENERATIONS_PER_USER=str(2 * DRAIN_STREAMS))
    stack.wait_models(gateway, workers=1)
    token = stack.token("drained")
    clients = [await Client.connect(gateway, token) for _ in range(DRAIN_STREAMS)]
    accepted = [await client.prompt(f"a long one {i}") for i, client in enumerate(clients)]
    assert all(a["type"] == "accepted" for a in accepted), accepted
    seen = [await _deltas(c, a["message_id"], 1) for c, a in zip(clients, accepted, strict=True)]
    stack.start_worker(PARLEY_INFERENCE_CONCURRENCY=str(DRAIN_STREAMS))
    stack.wait_models(gateway, workers=2)
    return clients, accepted, seen, token


async def _finish(clients: list[Client], accepted: list[Frame], seen: list[list[Frame]]) -> list[list[Frame]]:
    """Each client's whole stream, once its `done` or `error` came."""
    rest = await asyncio.gather(
        *(c.until(a["message_id"], timeout=60) for c, a in zip(clients, accepted, strict=True))
    )
    return [before + after for before, after in zip(seen, rest, strict=True)]


async def test_sigtermed_worker_finishes_its_running_answers_and_takes_no_new_one(
    database_url: str, stack_factory: Stack, provider: FakeProvider
) -> None:
    """Graceful drain: within its grace period the stopped worker finishes every answer it
    holds (no restart), while a prompt sent after the signal goes to the other worker."""
    stack = stack_factory
    clients, accepted, seen, token = await _stream_on_first_worker(
        stack, provider, database_url, first_grace_s=30
    )
    first = stack.workers[0]
    try:
        first.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert await asyncio.to_thread(first.wait_log, "stopping: takes no more requests", 15)
        clients.append(await Client.connect(stack.gateways[0], token))
        late = await clients[-1].prompt("sent while the first worker drains")
        assert late["type"] == "accepted", late
        streams = await _finish(clients[:-1], accepted, seen)
        known_in = time.monotonic() - signalled
        late_end = (await clients[-1].until(late["message_id"], timeout=60))[-1]
        exit_code = await asyncio.to_thread(first.wait, 30)
    finally:
        for client in clients:
            await client.close()

    assert exit_code == 0
    for frames in streams:
        assert [f["type"] for f in frames].count("restart") == 0, "a drained answer was restarted"
        assert frames[-1]["type"] == "done", frames[-1]
        assert frames[-1]["text"] == answer_text(frames) == "".join(LONGER)
    assert late_end["type"] == "done", late_end
    assert "generation start" not in first.log_text().split("stopping: takes no more requests")[1]
    seen_all = [Seen(a, f[-1]) for a, f in zip(accepted, streams, strict=True)] + [Seen(late, late_end)]
    print(  # noqa: T201
        f"\nworker SIGTERMed: {DRAIN_STREAMS} running answers drained, all outcomes known {known_in:.1f} s "
        f"after the signal; {await _agree(stack, token, seen_all)}"
    )


async def test_sigtermed_worker_past_its_grace_hands_its_answers_over(
    database_url: str, stack_factory: Stack, provider: FakeProvider
) -> None:
    """A grace period shorter than the answers: what the stopped worker still holds goes
    back to the queue and the other worker generates it again (`restart`, then `done`)."""
    stack = stack_factory
    clients, accepted, seen, token = await _stream_on_first_worker(
        stack, provider, database_url, first_grace_s=1
    )
    first = stack.workers[0]
    try:
        first.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        streams = await _finish(clients, accepted, seen)
        known_in = time.monotonic() - signalled
        exit_code = await asyncio.to_thread(first.wait, 30)
    finally:
        for client in clients:
            await client.close()

    assert exit_code == 0
    for frames in streams:
        assert "restart" in [f["type"] for f in frames], "an answer was not handed over"
        assert frames[-1]["type"] == "done", frames[-1]
        assert frames[-1]["text"] == answer_text(frames) == "".join(LONGER)
    seen_all = [Seen(a, f[-1]) for a, f in zip(accepted, streams, strict=True)]
    print(  # noqa: T201
        f"\nworker SIGTERMed, 1 s grace: {DRAIN_STREAMS} answers handed over, all outcomes known "
        f"{known_in:.1f} s after the signal; {await _agree(stack, token, seen_all)}"
    )


async def _two_gateways_mid_stream(stack: Stack, provider: FakeProvider) -> tuple[Client, str, list[Frame]]:
    provider.set_script(Script(tokens=SLOW, delay_s=0.05))
    stack.start_worker()
    first = stack.start_gateway()
    second = stack.start_gateway()
    stack.wait_models(first, workers=1)
    stack.wait_models(second, workers=1)
    client = await Client.connect(first, stack.token("alice"))
    accepted = await client.prompt("a slow one")
    message_id = accepted["message_id"]
    seen = await _deltas(client, message_id, 3)
    await client.close()
    return client, message_id, seen


async def test_resume_on_another_gateway_with_last_seq(stack_factory: Stack, provider: FakeProvider) -> None:
    stack = stack_factory
    old, message_id, seen = await _two_gateways_mid_stream(stack, provider)
    last_seq = seen[-1]["seq"]
    await asyncio.sleep(0.3)

    resumed = await Client.connect(
        stack.gateways[1], stack.token("alice"), session_id=old.session_id, last_seq=last_seq
    )
    assert resumed.session_id == old.session_id
    rest = await resumed.until(message_id)
    assert rest[0]["seq"] == last_seq + 1, "a gap or a duplicate at the resume point"
    seqs = [f["seq"] for f in seen + rest]
    assert seqs == sorted(set(seqs))
    assert rest[-1]["type"] == "done"
    assert answer_text(seen + rest) == FULL == rest[-1]["text"]
    await resumed.close()


async def test_reload_gets_the_whole_text_then_the_rest_and_stop_works(
    stack_factory: Stack, provider: FakeProvider
) -> None:
    stack = stack_factory
    old, message_id, _ = await _two_gateways_mid_stream(stack, provider)
    provider_requests = len(provider.requests)

    reloaded = await Client.connect(stack.gateways[1], stack.token("alice"), session_id=old.session_id)
    first = await reloaded.recv()
    assert first["type"] == "snapshot", first
    assert first["message_id"] == message_id
    assert FULL.startswith(first["text"])
    assert len(first["text"]) > 0

    more = await _deltas(reloaded, message_id, 1)
    assert FULL.startswith(answer_text([first, *more]))
    await reloaded.send({"type": "stop", "message_id": message_id})
    rest = await reloaded.until(message_id)
    assert rest[-1]["type"] == "done"
    assert rest[-1]["finish_reason"] == "cancelled"
    assert len(provider.requests) == provider_requests
    await reloaded.close()


async def test_someone_elses_session_cannot_be_resumed(stack_factory: Stack, provider: FakeProvider) -> None:
    stack = stack_factory
    old, _, _ = await _two_gateways_mid_stream(stack, provider)
    ws_client = Client(await websockets.connect(stack.gateways[1].ws))
    await ws_client.send(
        {"type": "hello", "token": stack.token("mallory"), "session_id": old.session_id, "last_seq": None}
    )
    frame = await ws_client.recv()
    assert frame["type"] == "error"
    assert frame["code"] == "session_forbidden"
    await ws_client.close()
