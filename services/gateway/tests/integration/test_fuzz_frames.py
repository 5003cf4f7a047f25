"""Hypothesis fuzzes every client frame type of `/ws` (hello, prompt, stop,
resume, ping's `type`, unknown types) with malformed, wrong-typed, oversized,
deeply nested, non-JSON and binary frames, against a real gateway process on
the real RabbitMQ with a worker serving the model the prompts name.

Proves, for each frame: the answer is an `error` frame with the code the
frame's fault calls for (a well-formed `hello` with a bad token: `error`
`invalid_token`, then close 4401), the socket still answers a ping, and no
`prompt.submitted` reached the broker. A valid prompt on the same path is
seen by the same broker check, so that check can fail."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import aio_pika
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integration import fuzzing as fz
from tests.integration.client import Client
from tests.integration.conftest import GatewayProcess, KeyRing, wait_for_model
from tests.integration.worker import FakeWorker

FUZZ_MODEL = "fuzz-model"
"""Served by no worker: a prompt frame that got past validation would be answered `accepted` or
`model_unavailable`, and either fails the test."""


@dataclass(frozen=True)
class Case:
    label: str
    payload: str | bytes
    codes: frozenset[str]
    closes: bool = False

    def describe(self) -> str:
        return f"{self.label}: {self.payload[:300]!r} ({len(self.payload)} bytes)"


def _json_case(label: str, frame: Any, malformed: str) -> Case:
    text = fz.encode(frame)
    return Case(label, text, frozenset(fz.expected_codes(frame, text, malformed=malformed)))


def _type_case(frame: dict[str, Any]) -> Case:
    return _json_case(
        "type", frame, "unknown_type" if isinstance(frame.get("type"), str) else "invalid_frame"
    )


def _oversized(frame_type: str, pad: int) -> Case:
    text = json.dumps({"type": frame_type, "pad": "x" * (fz.MAX_FRAME_BYTES + pad)})
    return Case("oversized", text, frozenset({"frame_too_large"}))


def cases(model: str, session_id: str) -> st.SearchStrategy[Case]:
    return st.one_of(
        fz.malformed_prompt(model).map(lambda f: _json_case("prompt", f, "invalid_frame")),
        fz.malformed_hello(session_id).map(lambda f: _json_case("hello", f, "invalid_frame")),
        fz.malformed_stop.map(lambda f: _json_case("stop", f, "invalid_frame")),
        fz.malformed_resume.map(lambda f: _json_case("resume", f, "invalid_frame")),
        fz.bad_type.map(_type_case),
        fz.not_an_object.map(lambda f: _json_case("not-an-object", f, "invalid_frame")),
        fz.too_deep.map(lambda f: _json_case("deep", f, "invalid_frame")),
        fz.not_json.map(lambda text: Case("not-json", text, frozenset({"invalid_json"}))),
        st.builds(_oversized, st.sampled_from([*fz.FRAME_TYPES, "dance"]), st.integers(0, 4096)),
        st.binary(max_size=64).map(lambda data: Case("binary", data, frozenset({"binary_frame"}))),
        st.text(max_size=80).map(
            lambda token: Case(
                "bad-token",
                json.dumps({"type": "hello", "token": token + ".x.y", "session_id": None, "last_seq": None}),
                frozenset({"invalid_token"}),
                closes=True,
            )
        ),
    )


fuzz_gateway = fz.gateway_fixture("gateway-fuzz-frames")


@dataclass
class FuzzSocket:
    gateway: GatewayProcess
    token: str
    user: str
    model: str
    prompts: aio_pika.abc.AbstractQueue
    client: Client | None = None
    session_id: str = ""

    async def open(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.client = await Client.connect(self.gateway.ws_url)
        self.session_id = await self.client.hello(self.token)

    async def published(self) -> list[dict[str, Any]]:
        """The `prompt.submitted` events of this user seen on the broker since the last call."""
        seen = []
        while (message := await self.prompts.get(no_ack=True, fail=False)) is not None:
            event = orjson.loads(message.body)
            if event.get("user_id") == self.user:
                seen.append(event)
        return seen


@pytest.fixture
async def fuzz_socket(
    fuzz_gateway: GatewayProcess, amqp_url: str, keyring: KeyRing
) -> AsyncIterator[FuzzSocket]:
    connection = await aio_pika.connect(amqp_url)
    try:
        prompts = await fz.submitted_prompts(connection)
        user = f"fuzz-{uuid4().hex[:8]}"
        socket = FuzzSocket(fuzz_gateway, keyring.token(user, expires_in=3600), user, FUZZ_MODEL, prompts)
        await socket.open()
        yield socket
        if socket.client is not None:
            await socket.client.close()
    finally:
        await connection.close()


@pytest.fixture
async def served_socket(
    fuzz_socket: FuzzSocket, fuzz_gateway: GatewayProcess, amqp_url: str
) -> AsyncIterator[FuzzSocket]:
    """The fuzz socket with a worker serving its model (the control test only: a worker's
    heartbeats need a running event loop, which hypothesis leaves between examples)."""
    worker = FakeWorker(amqp_url)
    await worker.start()
    try:
        await wait_for_model((fuzz_gateway,), worker.model, timeout=15)
        fuzz_socket.model = worker.model
        yield fuzz_socket
    finally:
        await worker.stop()


@pytest.mark.timeout(300)
@settings(fz.FUZZ, max_examples=400)
@given(data=st.data())
async def test_every_malformed_frame_gets_its_error_and_the_socket_stays_usable(
    fuzz_socket: FuzzSocket, data: st.DataObject
) -> None:
    case = data.draw(cases(fuzz_socket.model, fuzz_socket.session_id), label="case")
    client = fuzz_socket.client
    assert client is not None
    await client.send(case.payload)
    answer = await client.recv(timeout=15)
    assert answer["type"] == "error", (case.describe(), answer)
    assert answer["code"] in case.codes, (case.describe(), answer)
    assert answer["message"], answer
    if case.closes:
        assert await client.closed(timeout=15) == 4401, case.describe()
        await fuzz_socket.open()
    else:
        await client.ping()
    assert await fuzz_socket.published() == [], case.describe()


@pytest.mark.timeout(300)
@settings(fz.FUZZ, max_examples=100)
@given(data=st.data())
async def test_before_hello_every_malformed_frame_gets_its_error_and_a_hello_still_works(
    fuzz_socket: FuzzSocket, data: st.DataObject
) -> None:
    """The same frames on a socket that has not said hello yet: the same codes (a ping gets
    `not_authenticated`), and the socket then authenticates normally."""
    case = data.draw(cases(fuzz_socket.model, fuzz_socket.session_id), label="case")
    client = await Client.connect(fuzz_socket.gateway.ws_url)
    try:
        await client.send(case.payload)
        answer = await client.recv(timeout=15)
        assert answer["type"] == "error", (case.describe(), answer)
        assert answer["code"] in case.codes, (case.describe(), answer)
        if case.closes:
            assert await client.closed(timeout=15) == 4401, case.describe()
            return
        await client.send({"type": "ping"})
        assert (await client.expect("error"))["code"] == "not_authenticated", case.describe()
        await client.hello(fuzz_socket.token)
        await client.ping()
    finally:
        await client.close()
    assert await fuzz_socket.published() == [], case.describe()


async def test_a_valid_prompt_is_accepted_and_seen_by_the_same_broker_check(
    served_socket: FuzzSocket,
) -> None:
    """The control: what the fuzz test counts as "nothing published" does see a real prompt."""
    fuzz_socket = served_socket
    client = fuzz_socket.client
    assert client is not None
    accepted = await client.prompt(fuzz_socket.model, request_id="control")
    assert accepted["type"] == "accepted", accepted
    deadline = time.monotonic() + 15
    seen: list[dict[str, Any]] = []
    while not seen:
        assert time.monotonic() < deadline, "the valid prompt never reached the broker"
        seen = await fuzz_socket.published()
        await asyncio.sleep(0.05)
    assert [event["message_id"] for event in seen] == [accepted["message_id"]]
