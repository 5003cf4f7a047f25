"""Prompts and streams through the real broker, a real gateway process and a
real WebSocket client; the test plays the inference worker."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from parley_gateway.domain.sessions import owns
from tests.integration.client import Client
from tests.integration.conftest import GatewayProcess
from tests.integration.worker import FakeWorker


async def test_happy_path_frame_order_and_seq(
    gateway_a: GatewayProcess, worker: FakeWorker, connect: Any, token: str, user: str
) -> None:
    client = await connect(gateway_a)
    session_id = await client.hello(token)
    assert owns(UUID(session_id), user)
    accepted = await client.prompt(worker.model, request_id="req-1", text="Say hello")
    assert accepted["type"] == "accepted", accepted
    assert accepted["request_id"] == "req-1"
    gen = await worker.next_request()
    request = gen.request
    assert str(request.message_id) == accepted["message_id"]
    assert str(request.conversation_id) == accepted["conversation_id"]
    assert request.reply_to == f"session.{session_id}"
    assert request.user_id == user
    assert request.model == worker.model
    assert [(m.role, m.content) for m in request.messages] == [("user", "Say hello")]
    assert request.params.max_tokens == 64

    for piece in ("Hel", "lo, ", "world"):
        await worker.delta(gen, piece)
    await worker.finish(gen)
    frames = [await client.recv() for _ in range(4)]
    assert [(f["type"], f["seq"]) for f in frames] == [("delta", 1), ("delta", 2), ("delta", 3), ("done", 4)]
    assert all(f["message_id"] == accepted["message_id"] for f in frames)
    done = frames[-1]
    assert done["text"] == "".join(f["text"] for f in frames[:3]) == "Hello, world"
    assert done["finish_reason"] == "stop"
    assert {k: done["usage"][k] for k in ("prompt_tokens", "completion_tokens")} == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
    }
    assert done["metrics"] == {"ttft_ms": 12.0, "tokens_per_s": 50.0}

    # A second prompt in the same conversation continues the session seq.
    accepted = await client.prompt(worker.model, conversation_id=accepted["conversation_id"])
    gen = await worker.next_request()
    assert str(gen.request.conversation_id) == accepted["conversation_id"]
    await worker.delta(gen, "again")
    await worker.finish(gen)
    assert (await client.expect("delta"))["seq"] == 5
    assert (await client.expect("done"))["seq"] == 6
    await client.ping()

    metrics = (await gateway_a.ops("/metrics")).text
    assert "parley_gateway_open_sockets" in metrics
    assert 'parley_gateway_prompts_total{outcome="accepted"}' in metrics
    assert "parley_gateway_delta_frames_total" in metrics
    assert "parley_gateway_time_to_first_token_seconds_count" in metrics


async def test_model_unavailable_at_once(client: Client) -> None:
    error = await client.prompt("no-such-model", request_id="req-x")
    assert error["type"] == "error"
    assert error["code"] == "model_unavailable"
    assert error["request_id"] == "req-x"
    assert "no-such-model" in error["message"]
    await client.ping()


async def test_concurrency_and_rate_limits(
    client: Client, gateway_a: GatewayProcess, worker: FakeWorker, connect: Any, token: str
) -> None:
    # The test gateways allow 2 running generations and 5 prompts a minute per user.
    first = await client.prompt(worker.model, request_id="p1")
    second = await client.prompt(worker.model, request_id="p2")
    assert (first["type"], second["type"]) == ("accepted", "accepted")
    refused = await client.prompt(worker.model, request_id="p3")
    assert (refused["type"], refused["code"], refused["request_id"]) == (
        "error",
        "too_many_generations",
        "p3",
    )

    # The limit is per user, across that user's sockets.
    other_socket = await connect(gateway_a)
    await other_socket.hello(token)
    refused = await other_socket.prompt(worker.model, request_id="p3b")
    assert refused["code"] == "too_many_generations"

    gens = [await worker.next_request(), await worker.next_request()]
    await worker.finish(gens[0])
    await client.expect("done")
    assert (await client.prompt(worker.model, request_id="p4"))["type"] == "accepted"
    await worker.finish(await worker.next_request())
    await worker.finish(gens[1])
    for _ in range(2):
        await client.expect("done")
    for request_id in ("p5", "p6"):  # prompts 4 and 5 of this minute
        assert (await client.prompt(worker.model, request_id=request_id))["type"] == "accepted"
        await worker.finish(await worker.next_request())
        await client.expect("done")
    limited = await client.prompt(worker.model, request_id="p7")
    assert (limited["type"], limited["code"], limited["request_id"]) == ("error", "rate_limited", "p7")
    assert "try again in" in limited["message"]
    await client.ping()


async def test_stop_publishes_generation_cancel(client: Client, worker: FakeWorker, user: str) -> None:
    accepted = await client.prompt(worker.model)
    gen = await worker.next_request()
    await worker.delta(gen, "partial")
    await client.expect("delta")
    await client.send({"type": "stop", "message_id": accepted["message_id"]})
    for _ in range(100):
        if worker.cancels:
            break
        await client.ping()
    [cancel] = worker.cancels
    assert str(cancel.message_id) == accepted["message_id"]
    assert cancel.user_id == user
    await worker.finish(gen, finish_reason="cancelled")
    done = await client.expect("done")
    assert (done["finish_reason"], done["text"]) == ("cancelled", "partial")

    # Now it is over: stopping it again, or something never sent, is an error frame.
    await client.send({"type": "stop", "message_id": accepted["message_id"]})
    error = await client.expect("error")
    assert (error["code"], error["message_id"]) == ("unknown_message", accepted["message_id"])
    await client.ping()


async def test_failed_and_restarted_streams(client: Client, worker: FakeWorker) -> None:
    accepted = await client.prompt(worker.model)
    gen = await worker.next_request()
    await worker.delta(gen, "first try")
    assert (await client.expect("delta"))["seq"] == 1
    # The worker died; another one took the request over.
    await worker.restart(gen)
    restart = await client.expect("restart")
    assert (restart["message_id"], restart["seq"]) == (accepted["message_id"], 2)
    await worker.stale_delta(gen, "ghost of the first attempt", attempt=0, seq=2)
    await worker.delta(gen, "second try")
    delta = await client.expect("delta")
    assert (delta["text"], delta["seq"]) == ("second try", 3)
    await worker.fail(gen, "provider_error", "the model server answered 500")
    error = await client.expect("error")
    assert error == {
        "type": "error",
        "code": "provider_error",
        "message": "the model server answered 500",
        "message_id": accepted["message_id"],
        "seq": 4,
    }
    # The failed generation no longer counts against the limits.
    assert (await client.prompt(worker.model))["type"] == "accepted"
    assert (await client.prompt(worker.model))["type"] == "accepted"


async def test_unknown_event_versions_are_logged_and_dropped(
    gateway_a: GatewayProcess, worker: FakeWorker, connect: Any, token: str
) -> None:
    client = await connect(gateway_a)
    session_id = await client.hello(token)
    accepted = await client.prompt(worker.model)
    gen = await worker.next_request()
    future = (
        b'{"type": "token.delta", "version": 99, "message_id": "%s", "seq": 1, "text": "?"}'
        % accepted["message_id"].encode()
    )
    await worker.send_raw(f"session.{session_id}", future)
    await worker.send_raw(f"session.{session_id}", b"\x00 not json")
    await worker.delta(gen, "fine")
    delta = await client.expect("delta")
    assert (delta["text"], delta["seq"]) == ("fine", 1)
    assert gateway_a.process.wait_log("unsupported version 99 of 'token.delta'", timeout=5)
    assert f"dropping message on session {session_id}" in gateway_a.process.log_text()
    await client.ping()
