"""The OpenAI-compatible API's shapes (pure): request parsing and its errors,
chunks, whole completions, and how gateway refusals map to OpenAI errors."""

from __future__ import annotations

import json

import pytest

from parley_contracts import ChatMessage
from parley_gateway.domain.errors import ErrorCode, GatewayError
from parley_gateway.domain.openai_api import Completion, InvalidRequest, finish_reason, parse_request
from parley_gateway.entrypoints.openai import from_gateway_error, from_invalid_request


def _body(**fields: object) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "Hi"}], **fields}).encode()


def test_a_request_becomes_messages_and_params() -> None:
    request = parse_request(
        _body(
            messages=[
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
                },
            ],
            max_completion_tokens=50,
            max_tokens=10,
            temperature=0.5,
            stream=True,
            stream_options={"include_usage": True},
            user="ignored",
        )
    )
    assert request.chat_messages() == (
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Hello"),
    )
    params = request.params()
    assert (params.max_tokens, params.temperature) == (50, 0.5)
    assert request.stream
    assert request.include_usage


def test_null_takes_the_default_of_optional_fields() -> None:
    request = parse_request(_body(n=None, stream=None, temperature=None, stream_options=None))
    assert not request.stream
    assert request.params().temperature is None


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        (b"{", None, "not valid JSON"),
        (_body(n=2), "n", "only n=1"),
        (_body(tools=[{"type": "function"}]), "tools", "tools are not supported"),
        (_body(temperature=9), "temperature", "less than or equal"),
        (_body(messages=[]), "messages", "at least 1"),
        (_body(messages=[{"role": "tool", "content": "x"}]), "messages.0.role", "Input should be"),
        (b'{"messages": [{"role": "user", "content": "Hi"}]}', "model", "Field required"),
        (_body(messages=[{"role": "user", "content": "a\u0000b"}]), "messages.0.content", "NUL"),
    ],
)
def test_bad_requests_are_400_naming_the_field(body: bytes, where: str | None, says: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(body)
    error = from_invalid_request(caught.value)
    assert (error.status, error.type, error.code) == (400, "invalid_request_error", "invalid_request")
    assert error.param == where
    assert says in error.message
    assert set(error.body()["error"]) == {"message", "type", "param", "code"}


def test_chunks_and_whole_answers_in_openai_format() -> None:
    completion = Completion("abc", "m", created=1700000000)
    chunk = completion.chunk({"content": "Hi"})
    assert chunk["id"] == "chatcmpl-abc"
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"] == [
        {"index": 0, "delta": {"content": "Hi"}, "logprobs": None, "finish_reason": None}
    ]
    usage = completion.usage_chunk({"prompt_tokens": 3, "completion_tokens": 4})
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    whole = completion.whole("Hi there", "length", {"prompt_tokens": 1, "completion_tokens": 2})
    assert whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"] == "Hi there"
    assert whole["choices"][0]["finish_reason"] == "length"


def test_parley_finish_reasons_map_to_openai_ones() -> None:
    assert finish_reason("stop") == "stop"
    assert finish_reason("length") == "length"
    assert finish_reason("cancelled") == "stop"


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (ErrorCode.MODEL_UNAVAILABLE, 404, "invalid_request_error"),
        (ErrorCode.RATE_LIMITED, 429, "rate_limit_error"),
        (ErrorCode.QUOTA_EXCEEDED, 429, "rate_limit_error"),
        (ErrorCode.BROKER_UNAVAILABLE, 503, "api_error"),
        (ErrorCode.INTERNAL_ERROR, 500, "api_error"),
    ],
)
def test_gateway_refusals_map_to_openai_errors(code: ErrorCode, status: int, kind: str) -> None:
    error = from_gateway_error(GatewayError(code, "why"))
    assert (error.status, error.type, error.message) == (status, kind, "why")
