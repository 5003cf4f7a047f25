"""The socket protocol: authentication, close codes, and every bad frame
answered with an error frame on a socket that stays usable."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from parley_testkit import TestIssuer
from parley_testkit.attacks import ATTACKS
from tests.integration.client import Client
from tests.integration.conftest import AUDIENCE, ISSUER, GatewayProcess, KeyRing

VALID_PROMPT = {
    "type": "prompt",
    "request_id": "r1",
    "model": "m",
    "messages": [{"role": "user", "content": "hi"}],
}

BAD_FRAMES: list[tuple[Any, str, str]] = [
    ("this is not json", "invalid_json", "JSON"),
    ("[1, 2, 3]", "invalid_frame", "object"),
    ({"no": "type"}, "invalid_frame", "type"),
    ({"type": "dance"}, "unknown_type", "dance"),
    ({"type": "stop", "message_id": "not-a-uuid", "request_id": "s1"}, "invalid_frame", "message_id"),
    ({**VALID_PROMPT, "messages": []}, "invalid_frame", "messages"),
    ({**VALID_PROMPT, "messages": [{"role": "wizard", "content": "x"}]}, "invalid_frame", "messages.0.role"),
    ({**VALID_PROMPT, "params": {"temperature": 3}}, "invalid_frame", "params.temperature"),
    ({**VALID_PROMPT, "params": {"max_tokens": -5}}, "invalid_frame", "params.max_tokens"),
    ({**VALID_PROMPT, "request_id": ""}, "invalid_frame", "request_id"),
    ({"type": "resume", "session_id": "nope"}, "invalid_frame", "session_id"),
    (b'{"type": "ping"}', "binary_frame", "binary"),
    ('{"type": "ping", "pad": "' + "x" * 300_000 + '"}', "frame_too_large", "262144"),
    ({"type": "stop", "message_id": "00000000-0000-4000-8000-000000000000"}, "unknown_message", "running"),
]


async def test_every_bad_frame_gets_an_error_and_the_socket_stays_usable(
    client: Client, gateway_a: GatewayProcess
) -> None:
    for frame, code, mentions in BAD_FRAMES:
        await client.send(frame)
        error = await client.expect("error")
        assert error["code"] == code, (frame if len(str(frame)) < 200 else "big frame", error)
        assert mentions in error["message"]
        await client.ping()
    request_error = await client.prompt("m", request_id="mine", messages=[])
    assert request_error["request_id"] == "mine"
    metrics = (await gateway_a.ops("/metrics")).text
    assert 'parley_gateway_error_frames_total{code="frame_too_large"}' in metrics


async def test_frames_before_hello_are_refused_then_the_socket_closes(
    gateway_a: GatewayProcess, connect: Any
) -> None:
    client = await connect(gateway_a)
    await client.send({"type": "ping"})
    assert (await client.expect("error"))["code"] == "not_authenticated"
    await client.send({**VALID_PROMPT, "request_id": "early"})
    error = await client.expect("error")
    assert (error["code"], error["request_id"]) == ("not_authenticated", "early")
    await client.send("garbage")
    assert (await client.expect("error"))["code"] == "invalid_json"
    started = time.monotonic()
    assert await client.closed(timeout=3) == 4401  # the test gateways wait 1 s for a hello
    assert client.frames[-1]["code"] == "hello_timeout"
    assert time.monotonic() - started < 2.5


BAD_TOKENS = [
    pytest.param(lambda ring: "not-a-jwt", "invalid_token", id="garbage"),
    pytest.param(lambda ring: ring.token("alice", expires_in=-60), "token_expired", id="expired"),
    pytest.param(lambda ring: ring.token("alice", kid="other"), "invalid_token", id="unknown-kid"),
    pytest.param(
        lambda ring: TestIssuer(ISSUER, AUDIENCE, kid=ring.kid).token("alice"),
        "invalid_token",
        id="bad-signature",
    ),
    pytest.param(
        lambda ring: TestIssuer(ISSUER, "elsewhere", kid=ring.kid).token("alice"),
        "invalid_token",
        id="foreign-issuer",
    ),
    pytest.param(
        lambda ring: ring.token("alice", extra={"aud": "elsewhere"}), "invalid_token", id="wrong-audience"
    ),
    pytest.param(
        lambda ring: ring.token("alice", extra={"iss": "somebody"}), "invalid_token", id="wrong-iss"
    ),
    *(pytest.param(make_token, code, id=f"attack-{name}") for name, make_token, code in ATTACKS),
]
"""Hellos with a token the gateway must refuse (the shared JWT attack list too), and the code each gets."""


@pytest.mark.parametrize(("make_token", "code"), BAD_TOKENS)
async def test_bad_tokens_close_4401(
    gateway_a: GatewayProcess, connect: Any, keyring: KeyRing, make_token: Any, code: str
) -> None:
    client = await connect(gateway_a)
    await client.send({"type": "hello", "token": make_token(keyring), "session_id": None, "last_seq": None})
    error = await client.expect("error")
    assert error["code"] == code
    assert await client.closed() == 4401
    assert not any(frame["type"] == "ready" for frame in client.frames)


async def test_a_token_expiring_on_an_open_socket_closes_it_4401(
    gateway_a: GatewayProcess, connect: Any, keyring: KeyRing, user: str
) -> None:
    client = await connect(gateway_a)
    await client.hello(keyring.token(user, expires_in=2))
    await client.ping()
    assert await client.closed(timeout=4) == 4401
    assert client.frames[-1]["code"] == "token_expired"


async def test_a_later_hello_renews_the_token_on_the_same_session(
    gateway_a: GatewayProcess, connect: Any, keyring: KeyRing, user: str
) -> None:
    client = await connect(gateway_a)
    session_id = await client.hello(keyring.token(user, expires_in=2))
    assert await client.hello(keyring.token(user, expires_in=300)) == session_id
    await asyncio.sleep(2.2)
    await client.ping()  # still open after the first token's expiry
    await client.send({"type": "hello", "token": keyring.token("someone-else"), "session_id": None})
    assert (await client.expect("error"))["code"] == "invalid_token"
    assert await client.closed() == 4401


async def test_a_rotated_signing_key_is_fetched_on_its_first_use(
    gateway_a: GatewayProcess, connect: Any, keyring: KeyRing, user: str
) -> None:
    rotated = TestIssuer(ISSUER, AUDIENCE)
    keyring.rotated.append(rotated)
    await asyncio.sleep(0.6)  # past the test gateways' refetch floor
    client = await connect(gateway_a)
    await client.hello(rotated.token(user))
    await client.ping()
    assert gateway_a.process.wait_log(rotated.kid, timeout=2)
