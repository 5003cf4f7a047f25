"""The provider adapter through the real SDK, with the network replaced by
`httpx2.MockTransport` (the SDK's HTTP stack): request shape, raw stream
parsing and the mapping of failures to stable codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import aiohttp
import httpx2
import openai
import orjson
import pytest
from openai.resources.chat.completions import completions as completions_module

from parley_contracts import ChatMessage, GenerationParams
from parley_inference.adapters.llm import NO_KEY, OpenAIChatModel
from parley_inference.adapters.provider_errors import ProviderTimeouts, map_provider_error
from parley_inference.domain.errors import ErrorCode, GenerationError
from parley_inference.domain.sse import Chunk, TokenCounts
from tests.fakes import model_spec

MESSAGES = (ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi"))
TIMEOUTS = ProviderTimeouts(connect_s=2.0, read_s=3.0)


def _sse(*payloads: object) -> bytes:
    out = b""
    for payload in payloads:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        out += b"data: " + data + b"\n\n"
    return out


def _token(text: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


STREAM = _sse(
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
    _token("Hel"),
    _token("lo"),
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
    b"[DONE]",
)


def _model(handler: Callable[[httpx2.Request], httpx2.Response], **kwargs: object) -> OpenAIChatModel:
    return OpenAIChatModel(
        timeouts=TIMEOUTS,
        max_retries=0,
        transport=httpx2.MockTransport(handler),
        **kwargs,  # type: ignore[arg-type]
    )


async def _collect(
    model: OpenAIChatModel, params: GenerationParams | None = None, **spec: object
) -> list[Chunk]:
    chunks = [
        c async for c in model.stream(model_spec("test", **spec), MESSAGES, params or GenerationParams())
    ]
    await model.aclose()
    return chunks


async def test_streams_the_raw_lines_into_chunks_and_sends_the_right_request() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})

    model = _model(handler, environ={"TEST_KEY": "sk-test"})
    chunks = await _collect(
        model,
        GenerationParams(temperature=0.3, max_tokens=10_000, top_p=0.9),
        api_key_env="TEST_KEY",
        extra={"repeat_penalty": 1.1},
    )
    assert chunks == [
        Chunk(),
        Chunk(text="Hel"),
        Chunk(text="lo"),
        Chunk(finish_reason="stop"),
        Chunk(usage=TokenCounts(prompt_tokens=5, completion_tokens=2)),
    ]
    (request,) = seen
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = orjson.loads(request.content)
    assert body["model"] == "upstream-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert body["max_tokens"] == 256  # capped to the model's max_tokens
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["repeat_penalty"] == 1.1


async def test_the_messages_are_sent_as_given_not_through_the_sdks_argument_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's conversion of typed arguments costs about 330 us of CPU per message
    (33 ms for 100 messages, blocking the event loop): the messages must not go through it."""
    converted: list[object] = []
    convert = completions_module.async_maybe_transform

    async def recording(data: object, expected_type: object) -> object:
        converted.append(data)
        return await convert(data, expected_type)

    monkeypatch.setattr(completions_module, "async_maybe_transform", recording)
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})

    many = tuple(ChatMessage(role="user", content=f"message {i}") for i in range(100))
    model = _model(handler)
    _ = [c async for c in model.stream(model_spec("test"), many, GenerationParams())]
    await model.aclose()

    assert converted, "the SDK's create() converts its arguments"
    assert all(not list(cast(dict[str, Any], data).get("messages", ())) for data in converted)
    sent = orjson.loads(seen[0].content)["messages"]
    assert sent == [{"role": "user", "content": f"message {i}"} for i in range(100)]


async def test_without_a_key_sends_the_placeholder_and_the_model_default_max_tokens() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})

    await _collect(_model(handler, environ={}), api_key_env="UNSET_KEY")
    body = orjson.loads(seen[0].content)
    assert seen[0].headers["authorization"] == f"Bearer {NO_KEY}"
    assert body["max_tokens"] == 256
    assert "temperature" not in body
    assert "repeat_penalty" not in body


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, ErrorCode.PROVIDER_REJECTED),
        (401, ErrorCode.PROVIDER_REJECTED),
        (404, ErrorCode.PROVIDER_REJECTED),
        (429, ErrorCode.PROVIDER_REJECTED),
        (500, ErrorCode.PROVIDER_ERROR),
        (503, ErrorCode.PROVIDER_ERROR),
    ],
)
async def test_http_errors_map_to_stable_codes(
    status: int, code: ErrorCode, caplog: pytest.LogCaptureFixture
) -> None:
    """People see the model's name and the status; what the provider answered (it may name
    internal hosts) and its address go to the worker's log only."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = {"error": {"message": f"scripted {status} from 10.1.2.3", "type": "x"}}
        return httpx2.Response(status, json=body)

    with pytest.raises(GenerationError) as caught:
        await _collect(_model(handler))
    assert caught.value.code is code
    assert f"HTTP {status}" in caught.value.message
    assert "'test'" in caught.value.message
    for secret in ("scripted", "10.1.2.3", "127.0.0.1", "Traceback"):
        assert secret not in caught.value.message
    assert f"scripted {status} from 10.1.2.3" in caplog.text
    assert "http://127.0.0.1:9/v1" in caplog.text


async def test_an_error_inside_the_stream_is_a_provider_error() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        body = _sse(_token("a"), {"error": {"message": "out of memory"}})
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    model = _model(handler)
    got: list[Chunk] = []

    async def read() -> None:
        async for chunk in model.stream(model_spec(), MESSAGES, GenerationParams()):
            got.append(chunk)

    with pytest.raises(GenerationError) as caught:
        await read()
    await model.aclose()
    assert got == [Chunk(text="a")]
    assert caught.value.code is ErrorCode.PROVIDER_ERROR
    assert caught.value.message == "The model 'test' failed while answering."


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (
            lambda r: httpx2.ConnectError("refused", request=r),
            ErrorCode.PROVIDER_UNREACHABLE,
            "cannot be reached",
        ),
        (lambda r: httpx2.ReadTimeout("slow", request=r), ErrorCode.PROVIDER_TIMEOUT, "within 3 s"),
        (
            lambda r: httpx2.ConnectTimeout("slow", request=r),
            ErrorCode.PROVIDER_TIMEOUT,
            "connection within 2 s",
        ),
        (
            lambda r: httpx2.RemoteProtocolError("eof", request=r),
            ErrorCode.PROVIDER_ERROR,
            "closed the connection",
        ),
    ],
)
async def test_transport_failures_map_to_stable_codes(
    make: Callable[[httpx2.Request], Exception], code: ErrorCode, words: str
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise make(request)

    with pytest.raises(GenerationError) as caught:
        await _collect(_model(handler))
    assert caught.value.code is code
    assert words in caught.value.message


def test_mapping_of_errors_raised_mid_stream_and_of_the_unexpected() -> None:
    request = httpx2.Request("POST", "http://h/v1/chat/completions")
    cases: list[tuple[BaseException, ErrorCode]] = [
        (httpx2.ReadTimeout("idle", request=request), ErrorCode.PROVIDER_TIMEOUT),
        (httpx2.ReadError("reset", request=request), ErrorCode.PROVIDER_ERROR),
        (httpx2.RemoteProtocolError("cut", request=request), ErrorCode.PROVIDER_ERROR),
        (openai.APITimeoutError(request=request), ErrorCode.PROVIDER_TIMEOUT),
        (openai.APIConnectionError(request=request), ErrorCode.PROVIDER_UNREACHABLE),
        (ValueError("secret internals"), ErrorCode.GENERATION_FAILED),
    ]
    for exc, code in cases:
        mapped = map_provider_error(exc, model="m", timeouts=TIMEOUTS)
        assert mapped.code is code, exc
        assert "secret internals" not in mapped.message
    same = GenerationError(ErrorCode.MODEL_NOT_FOUND, "x")
    assert map_provider_error(same, model="m", timeouts=TIMEOUTS) is same


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def test_errors_of_the_aiohttp_transport_map_by_their_aiohttp_cause() -> None:
    """The SDK's aiohttp transport turns a refused connection or a hang-up into
    httpx2's `ConnectTimeout`; the aiohttp error underneath tells them apart."""
    request = httpx2.Request("POST", "http://h/v1/chat/completions")
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 80, False, True, None, None, None),
        ConnectionRefusedError(111, "Connection refused"),
    )

    def sdk(exc: type[openai.APIConnectionError], cause: BaseException) -> BaseException:
        return _caused(exc(request=request), _caused(httpx2.ConnectTimeout("x", request=request), cause))

    cases: list[tuple[BaseException, ErrorCode, str]] = [
        (sdk(openai.APITimeoutError, refused), ErrorCode.PROVIDER_UNREACHABLE, "cannot be reached"),
        (
            sdk(openai.APITimeoutError, aiohttp.ServerDisconnectedError()),
            ErrorCode.PROVIDER_ERROR,
            "closed the connection",
        ),
        (
            sdk(openai.APITimeoutError, aiohttp.ConnectionTimeoutError()),
            ErrorCode.PROVIDER_TIMEOUT,
            "connection within 2 s",
        ),
        (
            _caused(httpx2.ReadTimeout("x", request=request), aiohttp.SocketTimeoutError()),
            ErrorCode.PROVIDER_TIMEOUT,
            "within 3 s",
        ),
        (
            _caused(httpx2.ReadError("x", request=request), aiohttp.ClientPayloadError("cut")),
            ErrorCode.PROVIDER_ERROR,
            "broke off",
        ),
        (aiohttp.ServerDisconnectedError(), ErrorCode.PROVIDER_ERROR, "broke off"),
    ]
    for exc, code, words in cases:
        mapped = map_provider_error(exc, model="m", timeouts=TIMEOUTS)
        assert (mapped.code, words in mapped.message) == (code, True), (exc.__cause__, mapped)


def test_long_provider_messages_are_trimmed() -> None:
    request = httpx2.Request("POST", "http://h/v1/chat/completions")
    response = httpx2.Response(400, request=request)
    exc = openai.BadRequestError("x", response=response, body={"error": {"message": "y" * 1000}})
    mapped = map_provider_error(exc, model="m", timeouts=TIMEOUTS)
    assert mapped.code is ErrorCode.PROVIDER_REJECTED
    assert len(mapped.message) < 300
