from __future__ import annotations

from uuid import UUID, uuid4

import orjson
import pytest

from parley_gateway.domain.errors import ErrorCode, GatewayError
from parley_gateway.domain.frames import (
    Hello,
    Ping,
    Prompt,
    Resume,
    Stop,
    error_frame,
    parse_frame,
)

LIMIT = 4096


def parse(data: object, *, binary: bool = False) -> object:
    raw = data if isinstance(data, str | bytes) or data is None else orjson.dumps(data).decode()
    return parse_frame(raw, max_bytes=LIMIT, binary=binary)


def refused(data: object, *, binary: bool = False) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        parse(data, binary=binary)
    return caught.value


def prompt(**overrides: object) -> dict[str, object]:
    frame: dict[str, object] = {
        "type": "prompt",
        "request_id": "r1",
        "conversation_id": None,
        "parent_id": None,
        "model": "tiny",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "params": {"temperature": 0.7, "max_tokens": 512},
    }
    frame.update(overrides)
    return frame


def test_valid_frames_parse() -> None:
    session = uuid4()
    hello = parse({"type": "hello", "token": "t", "session_id": str(session), "last_seq": 3})
    assert hello == Hello(type="hello", token="t", session_id=session, last_seq=3)
    assert parse({"type": "hello", "token": "t", "session_id": None, "last_seq": None}) == Hello(
        type="hello", token="t"
    )
    assert isinstance(parse({"type": "ping"}), Ping)
    assert parse({"type": "stop", "message_id": str(session)}) == Stop(type="stop", message_id=session)
    assert parse({"type": "resume", "session_id": str(session)}) == Resume(type="resume", session_id=session)
    parsed = parse(prompt())
    assert isinstance(parsed, Prompt)
    assert parsed.params.temperature == 0.7
    assert [m.role for m in parsed.messages] == ["system", "user"]


def test_unknown_fields_are_ignored() -> None:
    assert isinstance(parse({"type": "ping", "extra": 1}), Ping)


@pytest.mark.parametrize(
    ("data", "code", "mentions"),
    [
        ("not json", ErrorCode.INVALID_JSON, "JSON"),
        ("{", ErrorCode.INVALID_JSON, "JSON"),
        ("", ErrorCode.INVALID_JSON, "JSON"),
        ("[1, 2]", ErrorCode.INVALID_FRAME, "object"),
        ('"ping"', ErrorCode.INVALID_FRAME, "object"),
        ("42", ErrorCode.INVALID_FRAME, "object"),
        ("null", ErrorCode.INVALID_FRAME, "object"),
        ({}, ErrorCode.INVALID_FRAME, "type"),
        ({"type": 7}, ErrorCode.INVALID_FRAME, "type"),
        ({"type": "launch"}, ErrorCode.UNKNOWN_TYPE, "launch"),
        ({"type": "PING"}, ErrorCode.UNKNOWN_TYPE, "PING"),
        ({"type": "hello"}, ErrorCode.INVALID_FRAME, "token"),
        ({"type": "hello", "token": ""}, ErrorCode.INVALID_FRAME, "token"),
        ({"type": "hello", "token": 5}, ErrorCode.INVALID_FRAME, "token"),
        ({"type": "hello", "token": "t", "session_id": "nope"}, ErrorCode.INVALID_FRAME, "session_id"),
        ({"type": "hello", "token": "t", "last_seq": -1}, ErrorCode.INVALID_FRAME, "last_seq"),
        ({"type": "hello", "token": "t", "last_seq": "5"}, ErrorCode.INVALID_FRAME, "last_seq"),
        ({"type": "hello", "token": "t", "last_seq": 1.5}, ErrorCode.INVALID_FRAME, "last_seq"),
        ({"type": "resume"}, ErrorCode.INVALID_FRAME, "session_id"),
        ({"type": "stop"}, ErrorCode.INVALID_FRAME, "message_id"),
        ({"type": "stop", "message_id": "m-1"}, ErrorCode.INVALID_FRAME, "message_id"),
        (prompt(request_id=None), ErrorCode.INVALID_FRAME, "request_id"),
        (prompt(request_id=""), ErrorCode.INVALID_FRAME, "request_id"),
        (prompt(request_id="x" * 129), ErrorCode.INVALID_FRAME, "request_id"),
        (prompt(model=""), ErrorCode.INVALID_FRAME, "model"),
        (prompt(model=None), ErrorCode.INVALID_FRAME, "model"),
        (prompt(messages=[]), ErrorCode.INVALID_FRAME, "messages"),
        (prompt(messages="hi"), ErrorCode.INVALID_FRAME, "messages"),
        (prompt(messages=[{"role": "robot", "content": "x"}]), ErrorCode.INVALID_FRAME, "messages.0.role"),
        (prompt(messages=[{"role": "user"}]), ErrorCode.INVALID_FRAME, "messages.0.content"),
        (prompt(messages=[{"role": "user", "content": 1}]), ErrorCode.INVALID_FRAME, "messages.0.content"),
        (prompt(params={"temperature": 9}), ErrorCode.INVALID_FRAME, "params.temperature"),
        (prompt(params={"temperature": -1}), ErrorCode.INVALID_FRAME, "params.temperature"),
        (prompt(params={"max_tokens": 0}), ErrorCode.INVALID_FRAME, "params.max_tokens"),
        (prompt(params={"max_tokens": 10**9}), ErrorCode.INVALID_FRAME, "params.max_tokens"),
        (prompt(params={"top_p": 0}), ErrorCode.INVALID_FRAME, "params.top_p"),
        (prompt(params="hot"), ErrorCode.INVALID_FRAME, "params"),
        (prompt(conversation_id="c-1"), ErrorCode.INVALID_FRAME, "conversation_id"),
        (prompt(parent_id=12), ErrorCode.INVALID_FRAME, "parent_id"),
    ],
)
def test_malformed_frames_name_the_problem(data: object, code: ErrorCode, mentions: str) -> None:
    error = refused(data)
    assert error.code == code
    assert mentions in error.message
    assert type(error) is GatewayError  # a plain refusal: the socket stays open


def test_too_many_messages() -> None:
    frame = orjson.dumps(prompt(messages=[{"role": "user", "content": "x"}] * 1001)).decode()
    with pytest.raises(GatewayError) as caught:
        parse_frame(frame, max_bytes=1 << 20)
    assert caught.value.code == ErrorCode.INVALID_FRAME
    assert "messages" in caught.value.message


def test_oversized_frames_are_refused_before_parsing() -> None:
    error = refused('{"type":"ping","pad":"' + "x" * LIMIT + '"}')
    assert error.code == ErrorCode.FRAME_TOO_LARGE
    assert str(LIMIT) in error.message
    # Multi-byte characters count in bytes, not code points.
    assert refused("é" * (LIMIT // 2 + 1)).code == ErrorCode.FRAME_TOO_LARGE
    assert refused(b"x" * (LIMIT + 1)).code == ErrorCode.FRAME_TOO_LARGE
    assert isinstance(parse('{"type":"ping","pad":"' + "é" * 100 + '"}'), Ping)


def test_binary_and_empty_frames_are_refused() -> None:
    assert refused(b'{"type":"ping"}', binary=True).code == ErrorCode.BINARY_FRAME
    assert refused(None).code == ErrorCode.INVALID_FRAME


def test_errors_carry_the_ids_they_can() -> None:
    error = refused(prompt(model=""))
    assert error.request_id == "r1"
    message_id = uuid4()
    error = refused({"type": "nope", "message_id": str(message_id), "request_id": "r9"})
    assert (error.request_id, error.message_id) == ("r9", message_id)
    # Unusable ids are left out rather than echoed.
    error = refused({"type": "nope", "message_id": "x", "request_id": "y" * 500})
    assert (error.request_id, error.message_id) == (None, None)


def test_error_frame_shape() -> None:
    message_id = UUID(int=1)
    frame = error_frame(
        GatewayError(ErrorCode.UNKNOWN_MESSAGE, "no such", request_id="r", message_id=message_id)
    )
    assert frame == {
        "type": "error",
        "code": "unknown_message",
        "message": "no such",
        "request_id": "r",
        "message_id": str(message_id),
    }
    assert error_frame(GatewayError(ErrorCode.INVALID_JSON, "bad")) == {
        "type": "error",
        "code": "invalid_json",
        "message": "bad",
    }
