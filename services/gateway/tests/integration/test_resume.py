"""Resume: a new socket with an earlier session id, on the same or another
gateway process, gets what it has not seen: no gap, no duplicate."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes import text_of
from tests.integration.client import Client
from tests.integration.conftest import GatewayProcess, KeyRing
from tests.integration.worker import FakeWorker, Generation


def stream_seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if "seq" in f]


async def prompted(client: Client, token: str, worker: FakeWorker) -> tuple[str, str, Generation]:
    """Hello, then a prompt the worker takes on: the session id, the prompt's message id and
    the worker's generation."""
    session_id = await client.hello(token)
    message_id = str((await client.prompt(worker.model))["message_id"])
    return session_id, message_id, await worker.next_request()


async def test_resume_on_a_second_gateway_with_last_seq(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess, worker: FakeWorker, connect: Any, token: str
) -> None:
    first = await connect(gateway_a)
    session_id, message_id, gen = await prompted(first, token, worker)
    for piece in ("The ", "quick ", "brown "):
        await worker.delta(gen, piece)
    last_seq = [await first.expect("delta") for _ in range(3)][-1]["seq"]
    await first.close()
    await asyncio.sleep(0.2)  # gateway A lets go of the session queue
    await worker.delta(gen, "fox ")  # generated while nobody listens
    await worker.delta(gen, "jumps ")

    second = await connect(gateway_b)
    assert await second.hello(token, session_id=session_id, last_seq=last_seq) == session_id
    snapshot = await second.expect("snapshot")
    assert (snapshot["seq"], snapshot["message_id"]) == (last_seq + 1, message_id)
    assert snapshot["text"] == "The quick brown fox jumps "
    await worker.delta(gen, "over")
    await worker.finish(gen)
    delta = await second.expect("delta")
    done = await second.expect("done")
    assert (delta["seq"], delta["text"]) == (last_seq + 2, "over")
    assert (done["seq"], done["text"]) == (last_seq + 3, "The quick brown fox jumps over")
    # The resume asked every worker for its text so far, and stop works from the new socket.
    assert [str(r.session_id) for r in worker.snapshot_requests] == [session_id]


async def test_resume_mid_stream_while_tokens_keep_coming(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess, worker: FakeWorker, connect: Any, token: str
) -> None:
    first = await connect(gateway_a)
    session_id, message_id, gen = await prompted(first, token, worker)

    async def generate() -> None:
        for i in range(80):
            await worker.delta(gen, f"t{i} ")
            await asyncio.sleep(0.005)
        await worker.finish(gen)

    producing = asyncio.create_task(generate())
    seen = [await first.expect("delta") for _ in range(10)]
    await first.ws.close()  # mid-stream, deltas still flowing
    second = await connect(gateway_b)
    await second.hello(token, session_id=session_id, last_seq=seen[-1]["seq"])
    while not second.frames or second.frames[-1]["type"] != "done":
        await second.recv()
    await producing
    frames = second.frames[1:]
    assert stream_seqs(frames) == list(range(seen[-1]["seq"] + 1, seen[-1]["seq"] + 1 + len(frames)))
    assert {f["message_id"] for f in frames} == {message_id}
    expected = "".join(f"t{i} " for i in range(80))
    assert frames[-1]["text"] == expected
    # The client's text before the done frame was already whole: the snapshot
    # replaced the old socket's text, the deltas after it continued it exactly.
    before_done = text_of(first.frames + frames[:-1], message_id)
    assert expected.startswith(before_done)
    assert before_done.count("t9 ") == 1
    assert text_of(first.frames + frames, message_id) == expected


async def test_resume_after_a_reload_sends_the_whole_text_first(
    gateway_a: GatewayProcess, worker: FakeWorker, connect: Any, token: str
) -> None:
    first = await connect(gateway_a)
    session_id = await first.hello(token)
    running_id = (await first.prompt(worker.model, request_id="long"))["message_id"]
    running = await worker.next_request()
    ending_id = (await first.prompt(worker.model, request_id="short"))["message_id"]
    ending = await worker.next_request()
    await worker.delta(running, "Once upon ")
    await worker.delta(ending, "Yes")
    await first.expect("delta")
    await first.expect("delta")
    await first.close()  # the page reloads
    await asyncio.sleep(0.1)
    await worker.delta(running, "a time")
    await worker.delta(ending, ", indeed.")
    await worker.finish(ending)  # ended while the page was away

    reloaded = await connect(gateway_a)
    await reloaded.hello(token, session_id=session_id)  # no last_seq: it has nothing
    got = [await reloaded.recv() for _ in range(2)]
    by_type = {f["type"]: f for f in got}
    assert stream_seqs(got) == [1, 2]
    assert by_type["snapshot"]["message_id"] == running_id
    assert by_type["snapshot"]["text"] == "Once upon a time"
    assert by_type["done"]["message_id"] == ending_id
    assert by_type["done"]["text"] == "Yes, indeed."

    # Stop still works after the reload: the gateway learned the running message from the snapshot.
    await reloaded.send({"type": "stop", "message_id": running_id})
    while not worker.cancels:
        await reloaded.ping()
    assert [str(c.message_id) for c in worker.cancels] == [running_id]
    await worker.delta(running, ".")
    await worker.finish(running, finish_reason="cancelled")
    assert (await reloaded.expect("delta"))["seq"] == 3
    done = await reloaded.expect("done")
    assert (done["seq"], done["text"], done["finish_reason"]) == (4, "Once upon a time.", "cancelled")


async def test_resuming_another_users_session_is_refused(
    gateway_a: GatewayProcess, connect: Any, keyring: KeyRing, token: str
) -> None:
    owner = await connect(gateway_a)
    session_id = await owner.hello(token)
    intruder = await connect(gateway_a)
    await intruder.send(
        {"type": "hello", "token": keyring.token("mallory"), "session_id": session_id, "last_seq": 0}
    )
    assert (await intruder.expect("error"))["code"] == "session_forbidden"
    assert await intruder.closed() == 4403
    # On an open socket, a `resume` of someone else's session is refused and the socket stays.
    mallory = await connect(gateway_a)
    own_session = await mallory.hello(keyring.token("mallory"))
    await mallory.send({"type": "resume", "session_id": session_id, "last_seq": None})
    assert (await mallory.expect("error"))["code"] == "session_forbidden"
    await mallory.ping()
    await owner.ping()
    assert own_session != session_id


async def test_a_resume_takes_the_session_over_from_the_old_socket(
    gateway_a: GatewayProcess,
    gateway_b: GatewayProcess,
    worker: FakeWorker,
    connect: Any,
    token: str,
) -> None:
    old = await connect(gateway_a)
    session_id, _, gen = await prompted(old, token, worker)
    await worker.delta(gen, "one ")
    await old.expect("delta")

    # Same process: the older socket is let go at once.
    same = await connect(gateway_a)
    await same.hello(token, session_id=session_id, last_seq=1)
    assert await old.closed() == 4409
    assert old.frames[-1]["code"] == "session_taken_over"
    assert (await same.expect("snapshot"))["text"] == "one "

    # Another process: the holder hears of the resume on chat.control and lets go.
    other = await connect(gateway_b)
    await other.hello(token, session_id=session_id, last_seq=2)
    assert await same.closed() == 4409
    assert (await other.expect("snapshot"))["seq"] == 3
    await worker.delta(gen, "two")
    await worker.finish(gen)
    assert (await other.expect("delta"))["seq"] == 4
    assert (await other.expect("done"))["text"] == "one two"


async def test_resume_frame_switches_an_open_socket_to_an_earlier_session(
    gateway_a: GatewayProcess, worker: FakeWorker, connect: Any, token: str
) -> None:
    first = await connect(gateway_a)
    earlier, _, gen = await prompted(first, token, worker)
    await worker.delta(gen, "kept")
    await first.expect("delta")
    await first.close()

    client: Client = await connect(gateway_a)
    fresh = await client.hello(token)
    assert fresh != earlier
    await client.send({"type": "resume", "session_id": earlier, "last_seq": 1})
    assert (await client.expect("ready"))["session_id"] == earlier
    snapshot = await client.expect("snapshot")
    assert (snapshot["seq"], snapshot["text"]) == (2, "kept")
