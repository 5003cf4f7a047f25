"""Hypothesis strategies of hostile input for the gateway: JSON junk, values
that no field of a frame accepts, deep nesting, and whole client frames that
are malformed in one way each (with the error codes they must get).

"Cannot be valid" is decided here by the JSON types alone (a list is never a
string, an id with `!` is never a UUID), not by asking the gateway's parser,
so that a parser that let something through would be caught."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from parley_contracts.topology import CHAT_EVENTS
from parley_platform.rabbit import declare_exchange
from tests.integration.conftest import GatewayProcess, spawn_gateway

FRAME_TYPES = ("hello", "resume", "prompt", "stop", "ping")
VALID_MESSAGE: dict[str, Any] = {"role": "user", "content": "hi"}

# The gateway process under test is started with these limits.
MAX_FRAME_BYTES = 65_536
MAX_TOKEN_CHARS = 16_384
MAX_REQUEST_ID_CHARS = 128
MAX_MODEL_CHARS = 200
MAX_MESSAGES = 1000
MAX_JSON_DEPTH = 1024
"""orjson refuses deeper documents: a frame nested deeper is not valid JSON to the gateway."""

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
"""Hypothesis settings of the fuzz tests: a real gateway per test (function-scoped fixture), slow
by hypothesis' measure, with large frames."""


@dataclass(frozen=True)
class Deep:
    """A value nested `depth` levels deep, written out as raw JSON text."""

    depth: int
    kind: str = "list"

    def json(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "]" * self.depth
        return '{"a":' * self.depth + "1" + "}" * self.depth


def encode(value: Any) -> str:
    """JSON text of `value`, `Deep` values included (json.dumps would hit Python's recursion limit)."""
    if isinstance(value, Deep):
        return value.json()
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def depth_of(value: Any) -> int:
    if isinstance(value, Deep):
        return value.depth
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
junk = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
"""Any JSON value."""

deep = st.builds(Deep, st.integers(min_value=2, max_value=400), st.sampled_from(["list", "dict"]))
too_deep = st.builds(Deep, st.integers(min_value=500, max_value=5000), st.sampled_from(["list", "dict"]))
"""Whole frames nested around the parser's depth limit."""
containers = st.lists(junk, max_size=4) | st.dictionaries(st.text(max_size=8), junk, max_size=4) | deep
"""Lists and objects: never a string, a number or an id."""

numbers = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False
)
not_a_string = containers | numbers | st.booleans()
not_an_id = not_a_string | st.text(max_size=40).map(lambda text: text + "!")
"""What no UUID field takes (`!` is in no UUID spelling); never null, which optional ids take."""


def text_longer_than(limit: int) -> st.SearchStrategy[str]:
    return st.integers(min_value=limit + 1, max_value=limit + 64).map(lambda n: "x" * n)


def required_text(limit: int) -> st.SearchStrategy[Any]:
    """Values a required string field of at most `limit` characters refuses."""
    return not_a_string | st.none() | st.just("") | text_longer_than(limit)


not_a_count = (
    st.integers(min_value=-(2**63), max_value=-1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | containers
    | st.booleans()
)
"""What a strict non-negative integer (`last_seq`) refuses: a float even when whole."""

bad_temperature = (
    st.floats(min_value=2.0, exclude_min=True, allow_infinity=False)
    | st.floats(max_value=0.0, exclude_max=True, allow_infinity=False)
    | containers
    | st.text(alphabet="xyz!", max_size=5)
)
bad_max_tokens = (
    st.integers(min_value=-(2**63), max_value=0)
    | st.integers(min_value=32_769, max_value=2**63 - 1)
    | st.floats(min_value=1.1, max_value=1e6).filter(lambda f: f != int(f))
    | containers
    | st.text(alphabet="xyz!", max_size=5)
)
bad_top_p = (
    st.floats(max_value=0.0, allow_infinity=False)
    | st.floats(min_value=1.0, exclude_min=True, allow_infinity=False)
    | containers
)
bad_params = (
    st.builds(lambda v: {"temperature": v}, bad_temperature)
    | st.builds(lambda v: {"max_tokens": v}, bad_max_tokens)
    | st.builds(lambda v: {"top_p": v}, bad_top_p)
    | st.lists(junk, max_size=3)
    | numbers
    | st.text(max_size=10)
    | st.none()
)
bad_message = (
    st.builds(
        lambda role: {"role": role, "content": "hi"}, st.text(max_size=12).map(lambda t: t + "!") | containers
    )
    | st.builds(lambda content: {"role": "user", "content": content}, not_a_string | st.none())
    | st.just({"role": "user", "content": "nul \u0000 inside"})
    | st.just({"role": "user"})
    | st.just({"content": "no role"})
    | st.lists(junk, max_size=3)
    | scalars
)
bad_messages = (
    st.just([])
    | st.lists(bad_message, min_size=1, max_size=3)
    | st.builds(lambda bad, i: [VALID_MESSAGE] * i + [bad], bad_message, st.integers(0, 3))
    | st.just([VALID_MESSAGE] * (MAX_MESSAGES + 1))
    | numbers
    | st.text(max_size=10)
    | st.none()
    | deep
)


def _mutated(
    base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...]
) -> Any:
    """`base` with one field replaced by a value it refuses, or one required field left out."""
    replaced = st.sampled_from(sorted(fields)).flatmap(
        lambda name: fields[name].map(lambda value: {**base, name: value})
    )
    if not required:
        return replaced
    dropped = st.sampled_from(required).map(lambda name: {k: v for k, v in base.items() if k != name})
    return replaced | dropped


def malformed_prompt(model: str) -> st.SearchStrategy[dict[str, Any]]:
    base = {
        "type": "prompt",
        "request_id": "fuzz",
        "conversation_id": None,
        "parent_id": None,
        "model": model,
        "messages": [VALID_MESSAGE],
        "params": {"temperature": 0.5, "max_tokens": 16},
    }
    fields: dict[str, st.SearchStrategy[Any]] = {
        "request_id": required_text(MAX_REQUEST_ID_CHARS),
        "model": required_text(MAX_MODEL_CHARS),
        "messages": bad_messages,
        "params": bad_params,
        "conversation_id": not_an_id,
        "parent_id": not_an_id,
        "prompt_message_id": not_an_id,
        "project_id": not_an_id,
    }
    return _mutated(base, fields, ("request_id", "model", "messages"))


def malformed_hello(session_id: str) -> st.SearchStrategy[dict[str, Any]]:
    base = {"type": "hello", "token": "x", "session_id": session_id, "last_seq": 0}
    fields = {"token": required_text(MAX_TOKEN_CHARS), "session_id": not_an_id, "last_seq": not_a_count}
    return _mutated(base, fields, ("token",))


malformed_stop = _mutated(
    {"type": "stop", "message_id": "00000000-0000-4000-8000-000000000000"},
    {"message_id": not_an_id | st.none()},
    ("message_id",),
)
malformed_resume = _mutated(
    {"type": "resume", "session_id": "00000000-0000-4000-8000-000000000000", "last_seq": 1},
    {"session_id": not_an_id | st.none(), "last_seq": not_a_count},
    ("session_id",),
)
bad_type = (  # invalid_frame when `type` is not a string, else unknown_type
    st.builds(lambda t: {"type": t}, not_a_string | st.none())
    | st.builds(lambda t: {"type": t}, st.text(max_size=20).filter(lambda t: t not in FRAME_TYPES))
    | st.sampled_from([{"type": "PING"}, {"type": "ping "}, {"type": "Prompt"}, {"type": ""}, {"no": "type"}])
    | st.builds(
        lambda extra: {**extra, "type": "dance"}, st.dictionaries(st.text(max_size=8), junk, max_size=3)
    )
)
not_an_object = st.lists(junk, max_size=4) | scalars | deep
not_json = st.text(max_size=60).filter(lambda text: not is_json(text)) | st.sampled_from(
    ["{", '{"type": "ping"', "NaN", "[1,]", "{'type': 'ping'}", '{"type": "ping"}}']
)


def is_json(text: str | bytes) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def expected_codes(frame: Any, text: str, *, malformed: str) -> set[str]:
    """The codes a frame may get: the size and depth limits first, then what is wrong with it."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_FRAME_BYTES:
        return {"frame_too_large"}
    if depth_of(frame) > MAX_JSON_DEPTH:
        return {"invalid_json"}
    return {malformed}


@contextmanager
def gateway_process(name: str, amqp_url: str, jwks_url: str) -> Iterator[GatewayProcess]:
    """A gateway of its own for fuzzing (the limits above; rate limits out of the way); at the
    end its log must hold no traceback and no frame that the gateway failed to handle."""
    gateway = spawn_gateway(
        name,
        amqp_url,
        jwks_url,
        PARLEY_GATEWAY_MAX_FRAME_BYTES=str(MAX_FRAME_BYTES),
        PARLEY_GATEWAY_HELLO_TIMEOUT_S="30",
        PARLEY_GATEWAY_PROMPTS_PER_MINUTE="1000",
    )
    try:
        gateway.process.wait_ready(f"{gateway.ops_url}/readyz", timeout=30)
        yield gateway
    finally:
        gateway.process.terminate()
        log = gateway.process.log_text()
        assert "Traceback" not in log, log[-4000:]
        assert "frame handling failed" not in log, log[-4000:]


def gateway_fixture(name: str) -> Callable[..., Iterator[GatewayProcess]]:
    """A test module's `fuzz_gateway` fixture: a `gateway_process` named `name`, for the module."""

    @pytest.fixture(scope="module")
    def fuzz_gateway(amqp_url: str, jwks_server: Any) -> Iterator[GatewayProcess]:
        with gateway_process(name, amqp_url, jwks_server.jwks_url) as gateway:
            yield gateway

    return fuzz_gateway


async def submitted_prompts(connection: aio_pika.abc.AbstractConnection) -> aio_pika.abc.AbstractQueue:
    """A queue of the test's own that gets every `prompt.submitted`: what no fuzzed input may cause."""
    channel = await connection.channel()
    prompts = await channel.declare_queue(exclusive=True)
    await prompts.bind(await declare_exchange(channel, CHAT_EVENTS), routing_key="prompt.submitted")
    return prompts
