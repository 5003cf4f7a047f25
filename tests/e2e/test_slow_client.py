"""A client that stops reading its socket (issue 9): the gateway's memory for it stays
bounded (the WebSocket's write buffer, then the session queue's prefetch: the rest waits
in RabbitMQ), the keepalive ping closes the socket, and other sessions stream as before.
The stuck answer is not lost: history stores it whole (the client finds it on reload),
and the clients, history and `audit.events` agree on both answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from parley_testkit import FakeProvider, Script, TestIssuer

from .agreement import Seen, check_agreement, seen_on_reload
from .stack import MODEL, Client, Stack, postgres_database

PING_S = 1.0
ANSWER_MB = 1.0
LONG = ["x" * 999 + " "] * 1000
"""1 MB of text as fast as the worker takes it (the models file caps answers at 1024 tokens)."""
RSS_BOUND_MB = 16.0
"""The final frame carries the whole answer, so a stuck session costs a few copies of it at
most (decoded event, frame, write buffer), plus up to `session_prefetch` stream messages."""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def slow_stack(
    vhost_url: str, provider: FakeProvider, issuer: TestIssuer, models_file: Path
) -> Iterator[Stack]:
    provider.reset()
    with postgres_database("parley_e2e_slow") as database_url:
        stack = Stack(amqp_url=vhost_url, provider=provider, issuer=issuer, models_file=models_file)
        try:
            # No title requests: the provider's script is for the answers this test reads.
            stack.start_history(database_url, PARLEY_HISTORY_TITLE_REQUESTS="0")
            stack.start_worker()
            stack.start_gateway(PARLEY_GATEWAY_WS_PING_INTERVAL_S=str(PING_S))
            stack.wait_models(stack.gateways[0], workers=1)
            yield stack
        finally:
            stack.close()


async def test_a_client_that_stops_reading_costs_bounded_memory_and_others_stream_on(
    slow_stack: Stack, provider: FakeProvider
) -> None:
    gateway = slow_stack.gateways[0]
    token = slow_stack.token("slow-reader")
    rss_before = _rss_mb(gateway.process.pid)

    # A socket whose client reads nothing after `accepted` (websockets stops reading
    # once its small queue is full, so TCP pushes back on the gateway).
    slow = await websockets.connect(gateway.ws, max_size=None, max_queue=1, ping_interval=None)
    await slow.send(json.dumps({"type": "hello", "token": token, "session_id": None, "last_seq": None}))
    ready = json.loads(await slow.recv())
    assert ready["type"] == "ready"
    provider.set_script(Script(tokens=LONG))
    request_id = str(uuid.uuid4())
    await slow.send(
        json.dumps(
            {
                "type": "prompt",
                "request_id": request_id,
                "conversation_id": None,
                "parent_id": None,
                "model": MODEL,
                "messages": [{"role": "user", "content": "a very long answer"}],
                "params": {},
            }
        )
    )
    stuck = json.loads(await slow.recv())
    assert stuck["type"] == "accepted", stuck
    # The whole answer reaches the worker and the broker; the client takes none of it.
    assert await provider.wait_for_async(lambda: any(r.completed for r in provider.requests), timeout=30)

    # Another session streams as before while that one is stuck.
    provider.set_script(Script())
    other_token = slow_stack.token("someone-else")
    other = await Client.connect(gateway, other_token)
    try:
        started = time.monotonic()
        accepted = await other.prompt("hello")
        assert accepted["type"] == "accepted", accepted
        frames = await other.until(accepted["message_id"], timeout=10)
        assert frames[-1]["type"] == "done"
        other_took = time.monotonic() - started
    finally:
        await other.close()

    # The keepalive ping goes unanswered: the gateway closes the socket.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(slow.wait_closed(), timeout=10 * PING_S)
    grown = _rss_mb(gateway.process.pid) - rss_before
    await slow.close()
    assert slow.close_code is not None, "the gateway kept a socket that does not read"
    assert grown < RSS_BOUND_MB, f"the gateway grew {grown:.1f} MB for one stuck socket"
    assert other_took < 5

    # The frames the gateway wrote into the stuck socket are gone with it (a resume
    # sends only what the gateway never wrote): the client learns the answer, whole,
    # by reloading its conversation; clients, history and audit.events agree on both.
    stuck_seen = await seen_on_reload(stuck, base_url=gateway.http, token=token)
    assert stuck_seen.done, stuck_seen.end
    assert stuck_seen.end["text"] == "".join(LONG)
    assert slow_stack.history is not None
    agreements = [
        await check_agreement(
            [seen], history_url=slow_stack.history.http, token=user, amqp_url=slow_stack.amqp_url
        )
        for seen, user in ((stuck_seen, token), (Seen(accepted, frames[-1]), other_token))
    ]
    print(  # noqa: T201
        f"\nslow reader: gateway RSS +{grown:.1f} MB while a {ANSWER_MB:.0f} MB answer was stuck; "
        f"another session's answer took {other_took * 1000:.0f} ms; socket closed with {slow.close_code}; "
        f"{'; '.join(map(str, agreements))}"
    )
