from __future__ import annotations

import orjson
import pytest

from parley_inference.domain.errors import ErrorCode, ProviderStreamError
from parley_inference.domain.sse import DONE, Chunk, SseDecoder, TokenCounts, parse_payload


def _chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return orjson.dumps(body).decode()


def _feed(lines: list[str]) -> list[object]:
    decoder = SseDecoder()
    items = [decoder.feed(line) for line in lines]
    items.append(decoder.end())
    return [item for item in items if item is not None]


def test_a_token_chunk_gives_its_text() -> None:
    assert parse_payload(_chunk({"content": "Hel"})) == Chunk(text="Hel")


def test_the_role_chunk_has_no_text() -> None:
    assert parse_payload(_chunk({"role": "assistant", "content": ""})) == Chunk()


def test_finish_reason_and_usage_are_read() -> None:
    assert parse_payload(_chunk({}, "length")) == Chunk(finish_reason="length")
    usage = '{"id":"x","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}'
    assert parse_payload(usage) == Chunk(usage=TokenCounts(prompt_tokens=7, completion_tokens=3))


def test_usage_on_a_chunk_with_choices_counts_too() -> None:
    payload = _chunk({"content": "x"}, "stop", usage={"prompt_tokens": 1, "completion_tokens": 2})
    assert parse_payload(payload) == Chunk(
        text="x", finish_reason="stop", usage=TokenCounts(prompt_tokens=1, completion_tokens=2)
    )


def test_done_ends_the_stream() -> None:
    assert parse_payload("[DONE]") is DONE


def test_a_whole_stream_with_comments_and_fields_decodes_in_order() -> None:
    lines = [
        ": keep-alive",
        "",
        "event: message",
        "id: 1",
        "data: " + _chunk({"role": "assistant", "content": ""}),
        "",
        "data: " + _chunk({"content": "Hi"}),
        "",
        "data:" + _chunk({"content": " there"}),  # no space after the colon is valid SSE
        "",
        "data: " + _chunk({}, "stop"),
        "",
        "data: [DONE]",
        "",
    ]
    assert _feed(lines) == [
        Chunk(),
        Chunk(text="Hi"),
        Chunk(text=" there"),
        Chunk(finish_reason="stop"),
        DONE,
    ]


def test_data_split_over_lines_is_joined() -> None:
    assert _feed(['data: {"choices":[{"delta":', 'data: {"content":"a"}}]}', ""]) == [Chunk(text="a")]


def test_an_event_without_a_trailing_blank_line_still_counts() -> None:
    assert _feed(["data: " + _chunk({"content": "z"})]) == [Chunk(text="z")]


def test_an_error_in_the_stream_is_a_provider_error_its_words_for_the_log_only() -> None:
    with pytest.raises(ProviderStreamError) as caught:
        parse_payload('{"error":{"message":"model overloaded at 10.0.0.5","type":"server_error"}}')
    assert caught.value.code is ErrorCode.PROVIDER_ERROR
    assert "10.0.0.5" not in caught.value.message
    assert caught.value.detail == "model overloaded at 10.0.0.5"


@pytest.mark.parametrize("payload", ["{not json", "[1,2]", '"text"'])
def test_malformed_events_are_provider_errors(payload: str) -> None:
    with pytest.raises(ProviderStreamError) as caught:
        parse_payload(payload)
    assert caught.value.code is ErrorCode.PROVIDER_ERROR
    assert "malformed" in caught.value.message


def test_odd_shapes_do_not_crash() -> None:
    assert parse_payload('{"choices":null}') == Chunk()
    assert parse_payload('{"choices":[{"delta":{"content":null}}]}') == Chunk()
    assert parse_payload('{"choices":[],"usage":{"prompt_tokens":"x"}}') == Chunk()
