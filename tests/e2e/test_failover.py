"""Streams that survive a dead worker, a dropped socket and a page reload."""

from __future__ import annotations

import asyncio

import websockets

from parley_testkit import FakeProvider, Script

from .stack import Client, Frame, Stack, answer_text

SLOW = [f"w{i} " for i in range(40)]
FULL = "".join(SLOW)


async def _deltas(client: Client, message_id: str, count: int) -> list[Frame]:
    frames: list[Frame] = []
    while len([f for f in frames if f["type"] == "delta"]) < count:
        frame = await client.recv()
        if frame.get("message_id") == message_id:
            frames.append(frame)
    return frames


async def test_sigkilled_worker_mid_stream_restarts_on_another(
    stack_factory: Stack, provider: FakeProvider
) -> None:
    stack = stack_factory
    provider.set_script(Script(tokens=SLOW, delay_s=0.1))
    first = stack.start_worker()
    gateway = stack.start_gateway()
    stack.wait_models(gateway, workers=1)
    client = await Client.connect(gateway, stack.token("alice"))
    accepted = await client.prompt("a slow one")
    message_id = accepted["message_id"]
    before = await _deltas(client, message_id, 2)

    stack.start_worker()
    first.kill()
    killed_at = asyncio.get_running_loop().time()
    after = await client.until(message_id, timeout=15)
    assert asyncio.get_running_loop().time() - killed_at < 15

    frames = before + after
    assert "restart" in [f["type"] for f in after]
    assert after[-1]["type"] == "done", after[-1]
    assert after[-1]["text"] == FULL
    assert answer_text(frames) == FULL
    await client.close()


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
